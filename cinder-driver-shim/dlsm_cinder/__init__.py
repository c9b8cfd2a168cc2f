"""DLSM Cinder volume driver: a thin shim over the DLSM REST backend."""
