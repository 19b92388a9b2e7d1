//! One controller of the KRaft quorum: the [`Raft`] voter replicating the metadata log
//! (`__cluster_metadata-0`) and the [`Controller`] state machine on top of it. Synchronous;
//! the node layer ([`super::node`]) only moves messages and requests.
//!
//! The Raft leader is the *active controller* once its own `LeaderChange` entry is committed
//! (by then it has applied every record of earlier terms). Like KRaft's `QuorumController`,
//! it applies the records it produces to its in-memory state at once and appends them to the
//! Raft log; callers answer requests only when the records are committed
//! ([`QuorumController::outcome`]). Standbys apply committed records only. A controller that
//! loses leadership drops its uncommitted records by rebuilding its state from the committed
//! log, so a deposed controller's changes never take effect anywhere.

use super::raft::{NodeId, Payload, Raft, RaftError};
use super::{Controller, ControllerConfig, MetadataRecord};

/// What the metadata log carries per Raft entry: the records of one controller operation
/// (KRaft appends an operation's records as one batch, atomically).
pub type RecordBatch = Vec<MetadataRecord>;

/// A proposal to wait for: the term it was proposed in and its Raft index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    pub term: u64,
    pub index: u64,
}

/// What became of a [`Pending`] proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    InFlight,
    /// Leadership was lost first; the records may or may not commit later.
    Lost,
}

/// Something the node layer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuorumEvent {
    /// Records at metadata offsets `first_offset..` are committed.
    Committed {
        first_offset: usize,
        records: Vec<MetadataRecord>,
    },
    /// This node became the active controller for `term` (KRaft's controller epoch).
    BecameActive { term: u64 },
    /// This node stopped being the active controller.
    Resigned { term: u64 },
}

pub struct QuorumController {
    raft: Raft<RecordBatch>,
    config: ControllerConfig,
    /// Committed records plus, while active, this controller's own uncommitted ones.
    controller: Controller,
    /// How many records of `controller.log()` are committed.
    committed: usize,
    /// The term in which this node is the active controller.
    active_term: Option<u64>,
    /// Records that did not apply (a corrupt log or a controller bug), for the harness.
    pub errors: Vec<String>,
}

impl QuorumController {
    pub fn new(raft: Raft<RecordBatch>, config: ControllerConfig) -> Self {
        QuorumController {
            raft,
            controller: Controller::new(config.clone()),
            config,
            committed: 0,
            active_term: None,
            errors: Vec::new(),
        }
    }

    pub fn raft(&self) -> &Raft<RecordBatch> {
        &self.raft
    }
    pub fn raft_mut(&mut self) -> &mut Raft<RecordBatch> {
        &mut self.raft
    }
    /// The state as this controller sees it (with its own uncommitted records while active).
    pub fn controller(&self) -> &Controller {
        &self.controller
    }
    /// The active controller's state machine, to run an operation on; `None` on a standby.
    pub fn active(&mut self) -> Option<&mut Controller> {
        self.active_term?;
        Some(&mut self.controller)
    }
    pub fn is_active(&self) -> bool {
        self.active_term.is_some()
    }
    /// The term this node is active in.
    pub fn active_term(&self) -> Option<u64> {
        self.active_term
    }
    /// The Raft leader this node knows of (the active controller, or about to be).
    pub fn leader_hint(&self) -> Option<NodeId> {
        self.raft.leader()
    }
    /// The committed metadata log.
    pub fn committed_log(&self) -> &[MetadataRecord] {
        &self.controller.log()[..self.committed]
    }

    /// Appends the records an operation of the active controller produced (already applied
    /// to its state). `None` if there is nothing to wait for.
    pub fn propose(&mut self, records: Vec<MetadataRecord>) -> Result<Option<Pending>, RaftError> {
        if records.is_empty() {
            return Ok(None);
        }
        let term = self.raft.term();
        let index = self.raft.propose(records)?;
        Ok(Some(Pending { term, index }))
    }

    pub fn outcome(&self, p: Pending) -> Outcome {
        match self.raft.term_at(p.index) {
            Some(t) if t == p.term && self.raft.commit_index() >= p.index => Outcome::Committed,
            Some(t) if t == p.term && self.active_term == Some(p.term) => Outcome::InFlight,
            _ => Outcome::Lost,
        }
    }

    /// Applies what Raft committed and follows leadership changes. Call after every
    /// `tick`, `step` or `propose`.
    pub fn poll(&mut self, now_ms: i64) -> Vec<QuorumEvent> {
        let mut events = Vec::new();
        let (term, leader) = (self.raft.term(), self.raft.is_leader());
        if let Some(t) = self.active_term.filter(|&t| t != term || !leader) {
            self.active_term = None;
            if self.controller.log().len() > self.committed {
                let log = self.committed_log().to_vec();
                self.controller = rebuild(self.config.clone(), log, now_ms, &mut self.errors);
            }
            events.push(QuorumEvent::Resigned { term: t });
        }
        for e in self.raft.take_committed() {
            match e.payload {
                Payload::LeaderChange { leader: l } => {
                    if leader && e.term == term && l == self.raft.id() {
                        self.active_term = Some(term);
                        self.controller.restart_sessions(now_ms);
                        events.push(QuorumEvent::BecameActive { term });
                    }
                }
                Payload::Data(records) => {
                    let first_offset = self.committed;
                    if self.active_term == Some(e.term) {
                        // Our own records: applied when proposed.
                        debug_assert_eq!(
                            &self.controller.log()[first_offset..first_offset + records.len()],
                            &records[..]
                        );
                    } else {
                        for r in &records {
                            if let Err(err) = self.controller.replay(r.clone()) {
                                self.errors.push(err.to_string());
                            }
                        }
                    }
                    self.committed += records.len();
                    events.push(QuorumEvent::Committed {
                        first_offset,
                        records,
                    });
                }
            }
        }
        events
    }
}

fn rebuild(
    config: ControllerConfig,
    log: Vec<MetadataRecord>,
    now_ms: i64,
    errors: &mut Vec<String>,
) -> Controller {
    match Controller::from_log(config.clone(), log.clone(), now_ms) {
        Ok(c) => c,
        Err(e) => {
            errors.push(e.to_string());
            let mut c = Controller::new(config);
            for r in log {
                let _ = c.replay(r);
            }
            c
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::controller::raft::{Message, RaftConfig};
    use crate::storage::{Disk, SimDisk};

    fn quorum(n: u64) -> Vec<QuorumController> {
        (0..n)
            .map(|id| {
                let disk: Arc<dyn Disk> = Arc::new(SimDisk::new(id));
                let mut cfg = RaftConfig::new(id, (0..n).collect());
                cfg.election_ticks = 5;
                let raft = Raft::open(cfg, disk, Path::new("/q"), id).unwrap();
                QuorumController::new(raft, ControllerConfig::default())
            })
            .collect()
    }

    /// Delivers messages among the `connected` nodes until quiet (others' are dropped).
    fn settle(qs: &mut [QuorumController], connected: &[usize], now: i64) {
        loop {
            let mut msgs: Vec<Message<RecordBatch>> = Vec::new();
            for &i in connected {
                qs[i].poll(now);
                msgs.extend(qs[i].raft_mut().take_messages());
            }
            for q in qs.iter_mut() {
                q.raft_mut().take_messages();
            }
            if msgs.is_empty() {
                return;
            }
            for m in msgs {
                if connected.contains(&(m.to as usize)) {
                    qs[m.to as usize].raft_mut().step(m);
                }
            }
        }
    }

    fn elect(qs: &mut [QuorumController], who: usize, connected: &[usize]) {
        while qs[who].raft().role() != crate::controller::raft::Role::Candidate {
            qs[who].raft_mut().tick();
        }
        settle(qs, connected, 0);
        assert!(qs[who].is_active());
    }

    fn register(q: &mut QuorumController, broker: i32) -> Pending {
        let (_, records) = q
            .active()
            .unwrap()
            .register_broker(broker, None, 0)
            .unwrap();
        q.propose(records).unwrap().unwrap()
    }

    #[test]
    fn standbys_apply_committed_records_and_a_successor_starts_from_them() {
        let mut qs = quorum(3);
        elect(&mut qs, 0, &[0, 1, 2]);
        let p = register(&mut qs[0], 7);
        assert_eq!(qs[0].outcome(p), Outcome::InFlight);
        settle(&mut qs, &[0, 1, 2], 0);
        assert_eq!(qs[0].outcome(p), Outcome::Committed);
        // Standbys learn the commit index from the next heartbeat.
        qs[0].raft_mut().tick();
        settle(&mut qs, &[0, 1, 2], 0);
        for q in &qs {
            assert!(q.controller().metadata().broker(7).is_some());
            assert_eq!(q.committed_log().len(), 1);
        }
        assert!(qs[1].active().is_none(), "a standby runs no operations");
        elect(&mut qs, 1, &[0, 1, 2]);
        assert!(!qs[0].is_active());
        assert!(qs[1].controller().metadata().broker(7).is_some());
    }

    #[test]
    fn a_deposed_active_controllers_uncommitted_records_never_apply() {
        let mut qs = quorum(3);
        elect(&mut qs, 0, &[0, 1, 2]);
        // Cut off, the active controller registers broker 2: applied to its own state only.
        let lost = register(&mut qs[0], 2);
        settle(&mut qs, &[0], 0);
        assert!(qs[0].controller().metadata().broker(2).is_some());
        elect(&mut qs, 1, &[1, 2]);
        let p = register(&mut qs[1], 3);
        settle(&mut qs, &[1, 2], 0);
        assert_eq!(qs[1].outcome(p), Outcome::Committed);
        // The partition heals: the old leader learns the new term and truncates.
        qs[1].raft_mut().tick();
        settle(&mut qs, &[0, 1, 2], 0);
        assert_eq!(qs[0].outcome(lost), Outcome::Lost);
        assert!(!qs[0].is_active());
        for q in &qs {
            let m = q.controller().metadata();
            assert!(
                m.broker(2).is_none(),
                "the deposed controller's record applied"
            );
            assert!(m.broker(3).is_some());
            assert_eq!(q.committed_log(), qs[1].committed_log());
        }
    }
}
