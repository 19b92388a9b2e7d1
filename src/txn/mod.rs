//! Transactions (KIP-98), the coordinator side: Kafka's `TransactionCoordinator`, the
//! transaction state machine (`TransactionMetadata`) and the records of
//! `__transaction_state`. The partition side (control batches, the last stable offset,
//! `.txnindex`) lives in `storage` and `broker::replica_manager`.
//!
//! Pure logic, in the style of `group`: requests and ticks carry `now_ms`, outputs are
//! replies, records to append and markers to write. No I/O, no clock.

pub mod coordinator;
pub mod log;
pub mod metadata;

pub use coordinator::{
    append_error_to_client, RequestToken, TransactionConfig, TransactionCoordinator,
    TxnMarkerEntry, TxnOutput, TxnReply, TRANSACTION_STATE_TOPIC,
};
pub use log::TransactionLogRecord;
pub use metadata::{TransactionMetadata, TransactionState, TxnTransitMetadata};

#[cfg(test)]
mod tests;
