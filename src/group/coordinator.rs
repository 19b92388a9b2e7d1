//! The classic group coordinator (placeholder; the state machine lands in the next commit).
