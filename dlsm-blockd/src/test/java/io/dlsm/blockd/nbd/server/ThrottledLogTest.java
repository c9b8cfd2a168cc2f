package io.dlsm.blockd.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class ThrottledLogTest {
    @Test
    void aFloodIsOneLineAndACountPerWindow() {
        Logger logger = (Logger) LoggerFactory.getLogger("throttled-log-test");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        logger.addAppender(lines);
        logger.setLevel(ch.qos.logback.classic.Level.INFO);
        AtomicLong now = new AtomicLong();
        ThrottledLog t = new ThrottledLog(logger, "refusing", 10_000, now::get);
        for (int i = 0; i < 1756; i++) {
            t.event("client " + i);
            now.addAndGet(1);
        }
        assertThat(lines.list).hasSize(1);
        assertThat(lines.list.get(0).getFormattedMessage()).contains("refusing").contains("client 0");
        now.addAndGet(10_000);
        t.flush();
        assertThat(lines.list).hasSize(2);
        assertThat(lines.list.get(1).getFormattedMessage()).contains("1755 more");
        t.flush();
        assertThat(lines.list).hasSize(2);
    }
}
