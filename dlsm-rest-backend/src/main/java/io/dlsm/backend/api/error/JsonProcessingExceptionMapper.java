package io.dlsm.backend.api.error;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import jakarta.ws.rs.core.Response;
import jakarta.ws.rs.ext.ExceptionMapper;
import jakarta.ws.rs.ext.Provider;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Request bodies Jackson could not read: 400 with the JSON path of the offending field, so a
 * client can fix its request without reading our source. Jackson's own messages name Java
 * classes, so the message is rebuilt from the exception's parts instead.
 */
@Provider
public final class JsonProcessingExceptionMapper implements ExceptionMapper<JsonProcessingException> {

    @Override
    public Response toResponse(JsonProcessingException e) {
        Map<String, Object> details = new LinkedHashMap<>();
        String message;
        if (e instanceof JsonMappingException mapping && !mapping.getPath().isEmpty()) {
            String field = fieldPath(mapping);
            details.put("field", field);
            message = "field '" + field + "': " + problem(mapping);
        } else if (e instanceof JsonMappingException mapping) {
            message = "request body: " + problem(mapping);
        } else {
            message = "malformed JSON";
        }
        JsonLocation location = e.getLocation();
        if (location != null && location.getLineNr() > 0) {
            details.put("line", location.getLineNr());
            details.put("column", location.getColumnNr());
            if (!(e instanceof JsonMappingException)) {
                message += " at line " + location.getLineNr() + ", column " + location.getColumnNr();
            }
        }
        return ApiError.of(ErrorCode.INVALID_JSON, message, details)
                .toResponse(Response.Status.BAD_REQUEST.getStatusCode())
                .build();
    }

    /** {@code volume.extents[2].length} style, the way clients write JSON paths. */
    static String fieldPath(JsonMappingException e) {
        StringBuilder path = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (!path.isEmpty()) {
                    path.append('.');
                }
                path.append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                path.append('[').append(ref.getIndex()).append(']');
            }
        }
        return path.toString();
    }

    private static String problem(JsonMappingException e) {
        if (e instanceof UnrecognizedPropertyException) {
            return "unknown field";
        }
        if (e instanceof InvalidFormatException invalid) {
            return "value " + describe(invalid.getValue()) + " is not a valid " + typeName(invalid.getTargetType());
        }
        if (e instanceof ValueInstantiationException && e.getCause() != null) {
            // Records validate in their compact constructors; their message is written for users.
            return e.getCause().getMessage();
        }
        if (e instanceof MismatchedInputException mismatched && mismatched.getTargetType() != null) {
            // FAIL_ON_NULL_FOR_PRIMITIVES has no exception type of its own; this is Jackson's wording.
            if (mismatched.getOriginalMessage().startsWith("Cannot map `null`")) {
                return "required " + typeName(mismatched.getTargetType()) + " is missing or null";
            }
            return "expected " + typeName(mismatched.getTargetType());
        }
        return "invalid value";
    }

    private static String describe(Object value) {
        return value instanceof String s ? "\"" + s + "\"" : String.valueOf(value);
    }

    /** JSON-ish names rather than Java class names. */
    private static String typeName(Class<?> type) {
        if (type == null) {
            return "value";
        }
        if (type == String.class || type.isEnum()) {
            return "string";
        }
        if (type == boolean.class || type == Boolean.class) {
            return "boolean";
        }
        if (type.isPrimitive() || Number.class.isAssignableFrom(type)) {
            return type == double.class || type == float.class || type == Double.class || type == Float.class
                    ? "number"
                    : "integer";
        }
        if (type.isArray() || Iterable.class.isAssignableFrom(type)) {
            return "array";
        }
        return "object";
    }
}
