//! Kafka's `AlterPartitionManager`: a broker's ISR changes travel to the controller in
//! batches, one `AlterPartition` request in flight at a time. Changes that come up while a
//! request is out wait and go together in the next one, so a broker that loses a follower
//! of thousands of partitions sends a handful of requests, not thousands.
//!
//! Plain state, no I/O: the node shell asks it whether to start a sender and what to send.

use std::collections::BTreeMap;

use super::{AlterPartitionRequest, TopicPartition};

#[derive(Debug, Default)]
pub struct AlterPartitionManager {
    /// Changes not sent yet, one per partition (a newer proposal replaces an unsent one).
    unsent: BTreeMap<TopicPartition, AlterPartitionRequest>,
    /// Whether a request is out (its sender sends the next batch when it returns).
    in_flight: bool,
}

impl AlterPartitionManager {
    /// Queues `req`. True when no request is out: the caller starts a sender.
    pub fn submit(&mut self, req: AlterPartitionRequest) -> bool {
        self.unsent.insert(req.topic_partition.clone(), req);
        !std::mem::replace(&mut self.in_flight, true)
    }

    /// A batch whose request got no answer (lost, timed out, or refused whole by a node
    /// that is not the controller) goes again, as Kafka's manager retries it: the
    /// controller may have applied it, so its outcome must not be taken for a refusal. A
    /// newer proposal queued meanwhile for the same partition replaces the old one.
    pub fn retry(&mut self, batch: Vec<AlterPartitionRequest>) {
        for req in batch {
            self.unsent
                .entry(req.topic_partition.clone())
                .or_insert(req);
        }
    }

    /// The next batch to send, in partition order; empty when nothing waits, and the
    /// sender stops (the next `submit` starts a new one).
    pub fn next_batch(&mut self) -> Vec<AlterPartitionRequest> {
        let batch: Vec<AlterPartitionRequest> =
            std::mem::take(&mut self.unsent).into_values().collect();
        self.in_flight = !batch.is_empty();
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(partition: i32, new_isr: Vec<i32>) -> AlterPartitionRequest {
        AlterPartitionRequest {
            topic_partition: TopicPartition::new("t", partition),
            leader_id: 0,
            leader_epoch: 0,
            partition_epoch: 0,
            new_isr,
            new_isr_broker_epochs: Vec::new(),
        }
    }

    #[test]
    fn changes_made_while_a_request_is_out_go_together_in_the_next_one() {
        let mut m = AlterPartitionManager::default();
        assert!(m.submit(req(0, vec![0, 1])), "nothing out: start a sender");
        assert_eq!(m.next_batch(), vec![req(0, vec![0, 1])]);
        assert!(!m.submit(req(1, vec![0])), "a request is out: wait for it");
        assert!(!m.submit(req(2, vec![0])));
        assert_eq!(m.next_batch(), vec![req(1, vec![0]), req(2, vec![0])]);
        assert_eq!(m.next_batch(), vec![], "nothing left: the sender stops");
        assert!(
            m.submit(req(3, vec![0])),
            "and the next change starts a new one"
        );
    }

    #[test]
    fn an_unanswered_batch_goes_again_unless_a_newer_proposal_replaced_it() {
        let mut m = AlterPartitionManager::default();
        assert!(m.submit(req(0, vec![0, 1])));
        let out = m.next_batch();
        assert!(!m.submit(req(1, vec![0, 2])), "a request is out");
        assert!(!m.submit(req(1, vec![0, 1, 2])));
        m.retry(vec![req(0, vec![0, 1]), req(1, vec![0, 2])]);
        assert_eq!(out, vec![req(0, vec![0, 1])]);
        assert_eq!(
            m.next_batch(),
            vec![req(0, vec![0, 1]), req(1, vec![0, 1, 2])]
        );
    }

    #[test]
    fn a_newer_proposal_replaces_an_unsent_one_for_the_same_partition() {
        let mut m = AlterPartitionManager::default();
        assert!(m.submit(req(0, vec![0, 1, 2])));
        assert!(!m.submit(req(0, vec![0, 1])));
        assert_eq!(m.next_batch(), vec![req(0, vec![0, 1])]);
    }
}
