package io.dlsm.blockd.dm;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The rendered plan is the state machines' command sequence, as the in-guest test runs it. */
class PlanMainTest {
    private static String render(String... args) throws Exception {
        PlanMain m = new PlanMain();
        new CommandLine(m).setCaseInsensitiveEnumValuesAllowed(true).parseArgs(args);
        return m.render();
    }

    @Test
    void linearOverNbdPlan() throws Exception {
        String s = render("--mode", "linear_over_nbd", "--volume", "v1", "--size-bytes", "33554432",
                "--nbd-host", "10.0.2.2", "--nbd-port", "10809", "--local", "/mnt/blockd/volumes/v1.img",
                "--loop-device", "/dev/loop0");
        assertThat(s).contains("""
                DLSM_DEVICE=/dev/mapper/dlsm-v1
                DLSM_DM_NAME=dlsm-v1
                dlsm_setup() {
                    nbd-client 10.0.2.2 10809 /dev/nbd0 -N v1 || return 1
                    DM_DISABLE_UDEV=1 dmsetup create dlsm-v1 --table '0 65536 linear /dev/nbd0 0' || return 1
                }
                dlsm_cutover() {
                    losetup /dev/loop0 /mnt/blockd/volumes/v1.img || return 1
                    DM_DISABLE_UDEV=1 dmsetup suspend dlsm-v1 || return 1
                    DM_DISABLE_UDEV=1 dmsetup load dlsm-v1 --table '0 65536 linear /dev/loop0 0' || return 1
                    DM_DISABLE_UDEV=1 dmsetup resume dlsm-v1 || return 1
                    nbd-client -d /dev/nbd0 || true
                }
                dlsm_fence() {
                    DM_DISABLE_UDEV=1 dmsetup suspend dlsm-v1 || return 1
                    DM_DISABLE_UDEV=1 dmsetup load dlsm-v1 --table '0 65536 error' || return 1
                    DM_DISABLE_UDEV=1 dmsetup resume dlsm-v1 || return 1
                }
                dlsm_unfence() {
                    DM_DISABLE_UDEV=1 dmsetup suspend dlsm-v1 || return 1
                    DM_DISABLE_UDEV=1 dmsetup load dlsm-v1 --table '0 65536 linear /dev/loop0 0' || return 1
                    DM_DISABLE_UDEV=1 dmsetup resume dlsm-v1 || return 1
                }
                dlsm_teardown() {
                    DM_DISABLE_UDEV=1 dmsetup remove dlsm-v1 || true
                    nbd-client -d /dev/nbd0 || true
                    losetup -d /dev/loop0 || true
                }
                dlsm_recover_crashed_setup() {
                    DM_DISABLE_UDEV=1 dmsetup remove dlsm-v1 || true
                    nbd-client -d /dev/nbd0 || true
                    losetup -d /dev/loop0 || true
                }
                """);
    }

    @Test
    void dmClonePlanWithUdev() throws Exception {
        String s = render("--mode", "DM_CLONE", "--volume", "v1", "--size-bytes", "33554432", "--nbd-host",
                "10.0.2.2", "--nbd-port", "10809", "--export", "v1@tok", "--local", "/dev/vdb", "--meta",
                "/dev/vdc", "--region-sectors", "64", "--udev");
        assertThat(s).contains("""
                dlsm_activate() {
                    dmsetup suspend dlsm-v1 || return 1
                    dmsetup load dlsm-v1 --table '0 65536 clone /dev/vdc /dev/vdb /dev/nbd0 64 1 no_hydration \
                4 hydration_threshold 64 hydration_batch_size 16' || return 1
                    dmsetup resume dlsm-v1 || return 1
                    dmsetup message dlsm-v1 0 enable_hydration || return 1
                }
                """).contains("s=$(dmsetup status dlsm-v1) || return 1").contains("""
                dlsm_finish() {
                    dmsetup suspend dlsm-v1 || return 1
                    dmsetup load dlsm-v1 --table '0 65536 linear /dev/vdb 0' || return 1
                    dmsetup resume dlsm-v1 || return 1
                    nbd-client -d /dev/nbd0 || true
                }
                """);
    }

    @Test
    void quoting() {
        assertThat(ShellScriptRunner.quote("/dev/nbd0")).isEqualTo("/dev/nbd0");
        assertThat(ShellScriptRunner.quote("a b")).isEqualTo("'a b'");
        assertThat(ShellScriptRunner.quote("it's")).isEqualTo("'it'\"'\"'s'");
        assertThat(ShellScriptRunner.quote("")).isEqualTo("''");
    }
}
