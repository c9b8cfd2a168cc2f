package io.dlsm.blockd;
public final class Main { public static void main(String[] a) {} }
