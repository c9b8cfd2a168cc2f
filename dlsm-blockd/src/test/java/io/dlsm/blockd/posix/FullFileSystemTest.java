package io.dlsm.blockd.posix;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.jna.LastErrorException;
import io.dlsm.blockd.block.BlockIoException;
import io.dlsm.blockd.block.Errno;
import io.dlsm.blockd.nbd.NbdErrors;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/** The JDK's and JNA's ways of saying "full" become ENOSPC/EDQUOT, which NBD carries as ENOSPC. */
class FullFileSystemTest {
    @Test
    void theJdksStrerrorTextsAndJnasErrnosAreRecognised() {
        assertThat(FullFileSystem.errnoOf(new IOException("No space left on device"))).contains(Errno.ENOSPC);
        assertThat(FullFileSystem.errnoOf(new IOException("Disk quota exceeded"))).contains(Errno.EDQUOT);
        assertThat(FullFileSystem.errnoOf(new IOException("wrapped", new LastErrorException(28)))).contains(Errno.ENOSPC);
        assertThat(FullFileSystem.errnoOf(new LastErrorException(122))).contains(Errno.EDQUOT);
        assertThat(FullFileSystem.errnoOf(new IOException("Input/output error"))).isEmpty();
        assertThat(FullFileSystem.errnoOf(new BlockIoException(Errno.EIO, "source unreachable"))).isEmpty();
    }

    @Test
    void classifyKeepsOtherFailuresAsTheyAre() {
        IOException eio = new IOException("Input/output error");
        assertThat(FullFileSystem.classify(eio, "unused")).isSameAs(eio);
        IOException full = FullFileSystem.classify(new IOException("Disk quota exceeded"), "free space in /x");
        assertThat(full).isInstanceOfSatisfying(BlockIoException.class, b -> {
            assertThat(b.errno()).isEqualTo(Errno.EDQUOT);
            assertThat(b.getMessage()).isEqualTo("free space in /x");
        });
    }

    @Test
    void aFullQuotaTravelsAsEnospcForNbdHasNoEdquot() {
        assertThat(NbdErrors.toWire(Errno.ENOSPC)).isEqualTo(28);
        assertThat(NbdErrors.toWire(Errno.EDQUOT)).isEqualTo(28);
        assertThat(NbdErrors.fromWire(28)).isEqualTo(Errno.ENOSPC);
    }
}
