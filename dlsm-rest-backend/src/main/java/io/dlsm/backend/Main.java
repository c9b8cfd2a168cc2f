package io.dlsm.backend;
public final class Main { public static void main(String[] a) {} }
