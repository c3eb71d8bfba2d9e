-- What a live session had moved when the kernel's counters last started
-- again from zero (a restart, a flushed table put back): its totals are
-- this plus what the kernel counts now, so a data allowance and the
-- session's figures survive a restart.
ALTER TABLE sessions ADD COLUMN base_up INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN base_down INTEGER NOT NULL DEFAULT 0;
