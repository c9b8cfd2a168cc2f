package io.dlsm.blockd.nbd.client;

/** One entry of an NBD_OPT_LIST answer; the description is empty when the server sent none. */
public record ListedExport(String name, String description) {
}
