package io.dlsm.blockd.api;

import io.dlsm.blockd.dm.KernelDeviceException;
import io.dlsm.blockd.dm.KernelDevices;
import io.dlsm.blockd.volume.VolumeName;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;
import java.util.Optional;

/**
 * A volume's kernel device, /dev/mapper/dlsm-NAME, for a volume or a sink of this node. A
 * separate resource from {@link VolumeResource} (Jersey matches the longer literal path
 * first), so the kernel path stays apart from the volume API.
 */
@Path("/v1/volumes/{name}/device")
@Produces(MediaType.APPLICATION_JSON)
public final class DeviceResource {
    private final Optional<KernelDevices> devices;

    /** @param devices empty when this node runs with {@code --kernel-path off} or has no kernel mode */
    public DeviceResource(Optional<KernelDevices> devices) {
        this.devices = devices;
    }

    /** Creates the device (idempotent) and answers once it exists. */
    @POST
    public KernelDevices.Device create(@PathParam("name") String name) {
        return devices(name).create(VolumeName.require("name", name));
    }

    @GET
    public KernelDevices.Device get(@PathParam("name") String name) {
        return devices(name).get(VolumeName.require("name", name)).orElseThrow(() -> new KernelDeviceException(
                KernelDeviceException.Kind.NOT_FOUND, name, "volume '" + name + "' has no kernel device on this node"));
    }

    /** Tears the device down; 204 whether or not there was one, so a retry is harmless. */
    @DELETE
    public Response delete(@PathParam("name") String name) {
        devices(name).delete(VolumeName.require("name", name));
        return Response.noContent().build();
    }

    private KernelDevices devices(String name) {
        return devices.orElseThrow(() -> new KernelDeviceException(KernelDeviceException.Kind.CONFLICT, name,
                "this node has no device-mapper path for '" + name + "': blockd runs with --kernel-path off or "
                        + "its kernel offers no kernel mode (GET /v1/node/capabilities says why); attach the NBD "
                        + "export instead, or restart blockd with --kernel-path auto"));
    }
}
