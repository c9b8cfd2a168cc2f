package io.dlsm.blockd.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.channels.ClosedChannelException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

class MemoryBudgetTest {
    @Test
    void aClaimWaitsUntilAnotherReleases() throws Exception {
        MemoryBudget b = new MemoryBudget(100);
        MemoryBudget.Claim first = b.claim();
        first.acquire(80, () -> true);
        MemoryBudget.Claim second = b.claim();
        CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> acquire(second, 40));
        // The state to wait for: the second claim is blocked, the budget unchanged.
        assertThat(b.used()).isEqualTo(80);
        assertThat(waiting).isNotDone();
        first.release();
        waiting.get(30, TimeUnit.SECONDS);
        assertThat(b.used()).isEqualTo(40);
        second.release();
        assertThat(b.used()).isZero();
    }

    @Test
    void writesEachHoldingPartAndWaitingForMoreDoNotDeadlock() throws Exception {
        MemoryBudget b = new MemoryBudget(100);
        MemoryBudget.Claim a = b.claim();
        MemoryBudget.Claim c = b.claim();
        a.acquire(50, () -> true);
        c.acquire(50, () -> true);
        // Both now need more and only they hold the budget: one is let past the limit.
        CompletableFuture<Void> moreA = CompletableFuture.runAsync(() -> acquire(a, 50));
        CompletableFuture<Void> moreC = CompletableFuture.runAsync(() -> acquire(c, 50));
        CompletableFuture.anyOf(moreA, moreC).get(30, TimeUnit.SECONDS);
        assertThat(b.used()).isEqualTo(150);
        MemoryBudget.Claim done = moreA.isDone() ? a : c;
        done.release();
        CompletableFuture.allOf(moreA, moreC).get(30, TimeUnit.SECONDS);
        assertThat(b.used()).isEqualTo(100);
    }

    @Test
    void aWaiterGivesUpWhenItsConnectionCloses() throws Exception {
        MemoryBudget b = new MemoryBudget(10);
        b.claim().acquire(10, () -> true);
        AtomicBoolean open = new AtomicBoolean(true);
        CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> acquire(b.claim(), 5, open));
        open.set(false);
        assertThatThrownBy(() -> waiting.get(30, TimeUnit.SECONDS)).hasRootCauseInstanceOf(ClosedChannelException.class);
        assertThat(b.used()).isEqualTo(10);
    }

    private static void acquire(MemoryBudget.Claim claim, long bytes) {
        acquire(claim, bytes, new AtomicBoolean(true));
    }

    private static void acquire(MemoryBudget.Claim claim, long bytes, AtomicBoolean open) {
        try {
            claim.acquire(bytes, open::get);
        } catch (InterruptedException | ClosedChannelException e) {
            throw new java.util.concurrent.CompletionException(e);
        }
    }
}
