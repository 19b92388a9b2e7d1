//! The controller quorum's consensus: a Raft state machine (KRaft, KIP-595), pure and
//! synchronous in the style of tikv/raft-rs. The node layer feeds it messages ([`Raft::step`])
//! and time ([`Raft::tick`]), and drains the messages to send ([`Raft::take_messages`]) and
//! the newly committed entries ([`Raft::take_committed`]); nothing here reads a clock or
//! touches the network.
//!
//! Why Raft rather than one designated controller: Kafka's KRaft replicates the metadata log
//! `__cluster_metadata` over `controller.quorum.voters` so that the controller survives a
//! crash without losing a committed metadata record, and a deposed controller cannot change
//! anything (its records never reach a majority).
//!
//! The rules, each tested in `raft_tests`:
//! - terms and votes: one vote per term, only for a candidate whose log is at least as
//!   up to date (last term, then last index); a higher term seen anywhere makes a node a
//!   follower of that term;
//! - election: a follower that hears nothing from a leader for a randomized election timeout
//!   (`controller.quorum.election.timeout.ms`, drawn from the seeded RNG given at
//!   [`Raft::open`]; shorter for the very first election of a fresh quorum) becomes a
//!   candidate; a majority of votes makes it leader, which first
//!   appends a [`Payload::LeaderChange`] entry (KRaft's `LeaderChangeMessage`), so entries of
//!   earlier terms get committed through it;
//! - replication: `AppendEntries` carries the previous index and term (the consistency
//!   check); a follower truncates a conflicting suffix (never a committed entry) and appends;
//! - commit: the leader commits the highest index a majority holds, only if that entry is of
//!   its own term (Raft §5.4.2); followers learn the commit index from the leader;
//! - check quorum (KRaft's `controller.quorum.fetch.timeout.ms`): a leader that has not heard
//!   from a majority within an election timeout steps down, so a controller cut off from its
//!   quorum stops acting as the active controller;
//! - durability: the term, the vote and the log are written through the project's [`Disk`]
//!   and fsynced before any message that depends on them is emitted, so a crash (which loses
//!   unsynced data) never takes back a vote or an acknowledged append.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::storage::{Disk, DiskFile, OpenMode};

/// A voter's id (KRaft's `node.id` of a controller).
pub type NodeId = u64;

/// What an entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload<T> {
    /// Appended by a new leader at the start of its term (KRaft's `LeaderChangeMessage`
    /// control record): committing it commits every entry before it.
    LeaderChange { leader: NodeId },
    /// A proposal from the state machine above.
    Data(T),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<T> {
    pub term: u64,
    /// 1-based; index 0 is the empty log's sentinel of term 0.
    pub index: u64,
    pub payload: Payload<T>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageBody<T> {
    RequestVote {
        last_index: u64,
        last_term: u64,
    },
    RequestVoteResponse {
        granted: bool,
    },
    AppendEntries {
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry<T>>,
        /// The leader's commit index.
        commit: u64,
    },
    AppendEntriesResponse {
        /// Success: the highest index now known to match the leader's log.
        /// Rejection: the `prev_index` that failed the consistency check.
        index: u64,
        success: bool,
        /// On rejection, where the leader should retry from (the follower's last index, or
        /// the index before the conflicting term's first entry).
        hint: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message<T> {
    pub from: NodeId,
    pub to: NodeId,
    pub term: u64,
    pub body: MessageBody<T>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

#[derive(Debug, Clone)]
pub struct RaftConfig {
    pub id: NodeId,
    /// Every voter, this node included (`controller.quorum.voters`).
    pub voters: Vec<NodeId>,
    /// The election timeout is drawn from `[election_ticks, 2 * election_ticks)` ticks.
    pub election_ticks: u32,
    /// The leader sends `AppendEntries` (a heartbeat if empty) every this many ticks.
    pub heartbeat_ticks: u32,
    /// The most entries one `AppendEntries` carries.
    pub max_entries_per_message: usize,
}

impl RaftConfig {
    pub fn new(id: NodeId, voters: Vec<NodeId>) -> Self {
        RaftConfig {
            id,
            voters,
            election_ticks: 10,
            heartbeat_ticks: 1,
            max_entries_per_message: 64,
        }
    }
}

/// Why Raft stopped or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaftError {
    /// `propose` on a node that is not the leader; the leader it knows of, if any.
    NotLeader { leader: Option<NodeId> },
    /// The configuration is unusable (no voters, this node not among them, zero ticks).
    Config(String),
    /// Reading or writing the persistent state failed; the node stops taking part (as a
    /// Kafka node halts on a failed log directory) rather than risk forgetting a vote.
    Storage(String),
}

impl fmt::Display for RaftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RaftError::NotLeader { leader: Some(l) } => write!(f, "not the leader (try {l})"),
            RaftError::NotLeader { leader: None } => write!(f, "not the leader (none known)"),
            RaftError::Config(m) => write!(f, "raft config: {m}"),
            RaftError::Storage(m) => write!(f, "raft storage: {m}"),
        }
    }
}

impl std::error::Error for RaftError {}

fn storage_err(what: &str, e: impl fmt::Display) -> RaftError {
    RaftError::Storage(format!("{what}: {e}"))
}

/// The leader's view of one follower.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// Highest index known to match.
    matched: u64,
    /// Next index to send (optimistically advanced past what was sent).
    next: u64,
    /// Heard from since the last check-quorum round.
    recently_active: bool,
}

#[derive(Serialize, Deserialize)]
struct HardState {
    term: u64,
    voted_for: Option<NodeId>,
}

const STATE_FILE: &str = "quorum-state";
const LOG_FILE: &str = "quorum.log";

/// The persistent part: `quorum-state` (term and vote, replaced atomically) and `quorum.log`
/// (entries as length + CRC-32C + JSON frames, appended and truncated in place).
struct Storage {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    log: Box<dyn DiskFile>,
    /// File position of each entry's frame (entry `i` at `positions[i - 1]`).
    positions: Vec<u64>,
    end: u64,
}

impl Storage {
    fn open<T: DeserializeOwned>(
        disk: Arc<dyn Disk>,
        dir: &Path,
    ) -> Result<(Storage, HardState, Vec<Entry<T>>), RaftError> {
        disk.create_dir_all(dir)
            .map_err(|e| storage_err("create dir", e))?;
        let state_path = dir.join(STATE_FILE);
        let hard = if disk.exists(&state_path) {
            let f = disk
                .open(&state_path, OpenMode::Existing)
                .map_err(|e| storage_err("open state", e))?;
            let mut buf = vec![0u8; f.len().map_err(|e| storage_err("state", e))? as usize];
            f.read_exact_at(&mut buf, 0)
                .map_err(|e| storage_err("read state", e))?;
            serde_json::from_slice(&buf)
                .map_err(|e| storage_err(&format!("{}", state_path.display()), e))?
        } else {
            HardState {
                term: 0,
                voted_for: None,
            }
        };
        let mut log = disk
            .open(&dir.join(LOG_FILE), OpenMode::Create)
            .map_err(|e| storage_err("open log", e))?;
        let len = log.len().map_err(|e| storage_err("log", e))?;
        let mut bytes = vec![0u8; len as usize];
        log.read_exact_at(&mut bytes, 0)
            .map_err(|e| storage_err("read log", e))?;
        let mut entries: Vec<Entry<T>> = Vec::new();
        let mut positions = Vec::new();
        let mut pos = 0usize;
        // Frames up to the first incomplete or corrupt one (a torn tail: it was never
        // synced, so nothing acknowledged depends on it).
        while pos + 8 <= bytes.len() {
            let n = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes"));
            let Some(body) = bytes.get(pos + 8..pos + 8 + n) else {
                break;
            };
            if crc32c::crc32c(body) != crc {
                break;
            }
            let Ok(e) = serde_json::from_slice::<Entry<T>>(body) else {
                break;
            };
            if e.index != entries.len() as u64 + 1 {
                return Err(RaftError::Storage(format!(
                    "{}: entry {} at position {pos} follows entry {}",
                    dir.join(LOG_FILE).display(),
                    e.index,
                    entries.len()
                )));
            }
            positions.push(pos as u64);
            entries.push(e);
            pos += 8 + n;
        }
        if pos as u64 != len {
            log.set_len(pos as u64)
                .and_then(|_| log.sync())
                .map_err(|e| storage_err("truncate torn log tail", e))?;
        }
        Ok((
            Storage {
                disk,
                dir: dir.to_path_buf(),
                log,
                positions,
                end: pos as u64,
            },
            hard,
            entries,
        ))
    }

    fn save_hard_state(&mut self, term: u64, voted_for: Option<NodeId>) -> io::Result<()> {
        let text = serde_json::to_string(&HardState { term, voted_for })
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        crate::broker::replica_manager::write_atomically(
            &*self.disk,
            &self.dir.join(STATE_FILE),
            &text,
        )
    }

    /// Drops entries from `index` on.
    fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        let i = (index - 1) as usize;
        if let Some(&pos) = self.positions.get(i) {
            self.log.set_len(pos)?;
            self.positions.truncate(i);
            self.end = pos;
        }
        Ok(())
    }

    fn append<T: Serialize>(&mut self, entries: &[Entry<T>]) -> io::Result<()> {
        let mut buf = Vec::new();
        for e in entries {
            let body =
                serde_json::to_vec(e).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            self.positions.push(self.end + buf.len() as u64);
            buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            buf.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
            buf.extend_from_slice(&body);
        }
        self.log.write_at(&buf, self.end)?;
        self.end += buf.len() as u64;
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        self.log.sync()
    }
}

/// One voter of the quorum.
pub struct Raft<T> {
    cfg: RaftConfig,
    storage: Storage,
    rng: StdRng,
    role: Role,
    term: u64,
    voted_for: Option<NodeId>,
    leader: Option<NodeId>,
    /// `log[i]` is entry `i + 1`.
    log: Vec<Entry<T>>,
    commit: u64,
    /// Entries up to here were handed out by `take_committed`.
    delivered: u64,
    votes: BTreeSet<NodeId>,
    progress: BTreeMap<NodeId, Progress>,
    election_elapsed: u32,
    election_timeout: u32,
    heartbeat_elapsed: u32,
    msgs: Vec<Message<T>>,
    failed: Option<String>,
}

impl<T> fmt::Debug for Raft<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Raft")
            .field("id", &self.cfg.id)
            .field("role", &self.role)
            .field("term", &self.term)
            .field("leader", &self.leader)
            .field("last_index", &self.log.len())
            .field("commit", &self.commit)
            .finish()
    }
}

impl<T: Clone + Serialize + DeserializeOwned> Raft<T> {
    /// Starts (or restarts) a voter from what `disk` holds under `dir`, as a follower of the
    /// persisted term with nothing known committed. `seed` drives its election timeouts.
    pub fn open(
        cfg: RaftConfig,
        disk: Arc<dyn Disk>,
        dir: &Path,
        seed: u64,
    ) -> Result<Raft<T>, RaftError> {
        if !cfg.voters.contains(&cfg.id) {
            return Err(RaftError::Config(format!(
                "node {} is not among the voters {:?}",
                cfg.id, cfg.voters
            )));
        }
        if cfg.election_ticks == 0 || cfg.heartbeat_ticks == 0 || cfg.max_entries_per_message == 0 {
            return Err(RaftError::Config(
                "election_ticks, heartbeat_ticks and max_entries_per_message must be positive"
                    .into(),
            ));
        }
        let (storage, hard, log) = Storage::open::<T>(disk, dir)?;
        let mut r = Raft {
            cfg,
            storage,
            rng: StdRng::seed_from_u64(seed),
            role: Role::Follower,
            term: hard.term,
            voted_for: hard.voted_for,
            leader: None,
            log,
            commit: 0,
            delivered: 0,
            votes: BTreeSet::new(),
            progress: BTreeMap::new(),
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            msgs: Vec::new(),
            failed: None,
        };
        r.reset_election_timeout();
        if r.term == 0 && r.log.is_empty() {
            // A fresh quorum has no leader to wait for: the first election comes sooner
            // (within one base timeout), so a new cluster gets its controller quickly.
            r.election_timeout = r.rng.gen_range(1..=r.cfg.election_ticks);
        }
        Ok(r)
    }

    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
    /// The leader of the current term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted_for
    }
    pub fn commit_index(&self) -> u64 {
        self.commit
    }
    pub fn last_index(&self) -> u64 {
        self.log.len() as u64
    }
    pub fn log(&self) -> &[Entry<T>] {
        &self.log
    }
    /// The term of entry `index` (0 for the sentinel), if the log has it.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == 0 {
            return Some(0);
        }
        self.log.get(index as usize - 1).map(|e| e.term)
    }
    /// Why the node stopped, if a storage error stopped it.
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn last_term(&self) -> u64 {
        self.log.last().map_or(0, |e| e.term)
    }

    fn quorum(&self) -> usize {
        self.cfg.voters.len() / 2 + 1
    }

    fn peers(&self) -> Vec<NodeId> {
        self.cfg
            .voters
            .iter()
            .copied()
            .filter(|&v| v != self.cfg.id)
            .collect()
    }

    fn reset_election_timeout(&mut self) {
        let base = self.cfg.election_ticks;
        self.election_timeout = self.rng.gen_range(base..2 * base);
        self.election_elapsed = 0;
    }

    fn send(&mut self, to: NodeId, body: MessageBody<T>) {
        self.msgs.push(Message {
            from: self.cfg.id,
            to,
            term: self.term,
            body,
        });
    }

    /// Stops the node on a storage error; returns whether it is (still) usable.
    fn check(&mut self, what: &str, r: io::Result<()>) -> bool {
        if let Err(e) = r {
            self.failed = Some(format!("{what}: {e}"));
            self.msgs.clear();
            self.role = Role::Follower;
            self.leader = None;
        }
        self.failed.is_none()
    }

    fn persist_hard_state(&mut self) -> bool {
        let r = self.storage.save_hard_state(self.term, self.voted_for);
        self.check("write quorum-state", r)
    }

    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) -> bool {
        if term != self.term {
            self.term = term;
            self.voted_for = None;
            if !self.persist_hard_state() {
                return false;
            }
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.progress.clear();
        self.reset_election_timeout();
        true
    }

    fn campaign(&mut self) {
        self.term += 1;
        self.voted_for = Some(self.cfg.id);
        if !self.persist_hard_state() {
            return;
        }
        self.role = Role::Candidate;
        self.leader = None;
        self.votes = BTreeSet::from([self.cfg.id]);
        self.reset_election_timeout();
        if self.votes.len() >= self.quorum() {
            self.become_leader();
            return;
        }
        let (last_index, last_term) = (self.last_index(), self.last_term());
        for p in self.peers() {
            self.send(
                p,
                MessageBody::RequestVote {
                    last_index,
                    last_term,
                },
            );
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id);
        self.heartbeat_elapsed = 0;
        self.election_elapsed = 0;
        let next = self.last_index() + 1;
        self.progress = self
            .peers()
            .into_iter()
            .map(|p| {
                (
                    p,
                    Progress {
                        matched: 0,
                        next,
                        recently_active: true,
                    },
                )
            })
            .collect();
        let leader = self.cfg.id;
        self.append_as_leader(Payload::LeaderChange { leader });
    }

    /// Appends to the leader's own log (durably) and sends it on.
    fn append_as_leader(&mut self, payload: Payload<T>) -> u64 {
        let entry = Entry {
            term: self.term,
            index: self.last_index() + 1,
            payload,
        };
        let r = self
            .storage
            .append(std::slice::from_ref(&entry))
            .and_then(|_| self.storage.sync());
        if !self.check("append to quorum.log", r) {
            return 0;
        }
        let index = entry.index;
        self.log.push(entry);
        self.maybe_commit();
        for p in self.peers() {
            self.send_append(p);
        }
        index
    }

    /// Sends `p` the entries from its next index (none: a heartbeat), optimistically
    /// assuming they arrive.
    fn send_append(&mut self, p: NodeId) {
        let Some(pr) = self.progress.get(&p).copied() else {
            return;
        };
        let prev_index = pr.next - 1;
        let Some(prev_term) = self.term_at(prev_index) else {
            return;
        };
        let upto = self
            .last_index()
            .min(prev_index + self.cfg.max_entries_per_message as u64);
        let entries = self.log[prev_index as usize..upto as usize].to_vec();
        if let Some(pr) = self.progress.get_mut(&p) {
            pr.next = upto + 1;
        }
        let commit = self.commit;
        self.send(
            p,
            MessageBody::AppendEntries {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
    }

    fn maybe_commit(&mut self) {
        let mut matched: Vec<u64> = self.progress.values().map(|p| p.matched).collect();
        matched.push(self.last_index());
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let n = matched[self.quorum() - 1];
        // Only an entry of the current term is committed by counting (§5.4.2).
        if n > self.commit && self.term_at(n) == Some(self.term) {
            self.commit = n;
        }
    }

    /// Time passes by one tick: followers and candidates may start an election, the leader
    /// sends heartbeats and checks that it still has a quorum.
    pub fn tick(&mut self) {
        if self.failed.is_some() {
            return;
        }
        self.election_elapsed += 1;
        match self.role {
            Role::Leader => {
                self.heartbeat_elapsed += 1;
                if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
                    self.heartbeat_elapsed = 0;
                    for p in self.peers() {
                        self.send_append(p);
                    }
                }
                if self.election_elapsed >= self.cfg.election_ticks {
                    self.election_elapsed = 0;
                    let active = 1 + self.progress.values().filter(|p| p.recently_active).count();
                    if active < self.quorum() {
                        let term = self.term;
                        self.become_follower(term, None);
                        return;
                    }
                    for p in self.progress.values_mut() {
                        p.recently_active = false;
                    }
                }
            }
            Role::Follower | Role::Candidate => {
                if self.election_elapsed >= self.election_timeout {
                    self.campaign();
                }
            }
        }
    }

    /// Proposes `data` (leader only). Returns the index it will have if committed; it is
    /// committed when [`Raft::commit_index`] reaches it while [`Raft::term_at`] that index
    /// is still the term it was proposed in.
    pub fn propose(&mut self, data: T) -> Result<u64, RaftError> {
        if let Some(f) = &self.failed {
            return Err(RaftError::Storage(f.clone()));
        }
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader {
                leader: self.leader,
            });
        }
        let index = self.append_as_leader(Payload::Data(data));
        match &self.failed {
            Some(f) => Err(RaftError::Storage(f.clone())),
            None => Ok(index),
        }
    }

    /// Handles one message. Messages not addressed to this node, from non-voters, or from
    /// an older term are ignored (or, for a stale leader, answered so it steps down).
    pub fn step(&mut self, msg: Message<T>) {
        if self.failed.is_some()
            || msg.to != self.cfg.id
            || msg.from == self.cfg.id
            || !self.cfg.voters.contains(&msg.from)
        {
            return;
        }
        if msg.term > self.term {
            let leader = matches!(msg.body, MessageBody::AppendEntries { .. }).then_some(msg.from);
            if !self.become_follower(msg.term, leader) {
                return;
            }
        } else if msg.term < self.term {
            // Tell a stale leader or candidate about the newer term.
            match msg.body {
                MessageBody::AppendEntries { .. } => self.send(
                    msg.from,
                    MessageBody::AppendEntriesResponse {
                        index: 0,
                        success: false,
                        hint: 0,
                    },
                ),
                MessageBody::RequestVote { .. } => self.send(
                    msg.from,
                    MessageBody::RequestVoteResponse { granted: false },
                ),
                _ => {}
            }
            return;
        }
        match msg.body {
            MessageBody::RequestVote {
                last_index,
                last_term,
            } => {
                let can_vote = self.voted_for.is_none_or(|v| v == msg.from);
                let up_to_date = (last_term, last_index) >= (self.last_term(), self.last_index());
                let granted = can_vote && up_to_date && self.role == Role::Follower;
                if granted && self.voted_for.is_none() {
                    self.voted_for = Some(msg.from);
                    if !self.persist_hard_state() {
                        return;
                    }
                }
                if granted {
                    self.reset_election_timeout();
                }
                self.send(msg.from, MessageBody::RequestVoteResponse { granted });
            }
            MessageBody::RequestVoteResponse { granted } => {
                if self.role == Role::Candidate && granted {
                    self.votes.insert(msg.from);
                    if self.votes.len() >= self.quorum() {
                        self.become_leader();
                    }
                }
            }
            MessageBody::AppendEntries {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                if self.role != Role::Follower || self.leader != Some(msg.from) {
                    // A candidate of this term learns the elected leader.
                    let term = self.term;
                    if !self.become_follower(term, Some(msg.from)) {
                        return;
                    }
                }
                self.election_elapsed = 0;
                self.handle_append(msg.from, prev_index, prev_term, entries, commit);
            }
            MessageBody::AppendEntriesResponse {
                index,
                success,
                hint,
            } => {
                if self.role != Role::Leader {
                    return;
                }
                let Some(pr) = self.progress.get_mut(&msg.from) else {
                    return;
                };
                pr.recently_active = true;
                if success {
                    if index > pr.matched {
                        pr.matched = index;
                    }
                    pr.next = pr.next.max(pr.matched + 1);
                    let behind = pr.next <= self.last_index();
                    self.maybe_commit();
                    if behind {
                        self.send_append(msg.from);
                    }
                } else if pr.matched < index && index < pr.next {
                    // Not stale: back off to the hint and retry at once.
                    pr.next = (pr.matched + 1).max((hint + 1).min(index));
                    self.send_append(msg.from);
                }
            }
        }
    }

    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry<T>>,
        leader_commit: u64,
    ) {
        let reject = |r: &mut Self, hint: u64| {
            r.send(
                from,
                MessageBody::AppendEntriesResponse {
                    index: prev_index,
                    success: false,
                    hint,
                },
            )
        };
        match self.term_at(prev_index) {
            None => return reject(self, self.last_index()),
            Some(t) if t != prev_term => {
                // Skip the whole conflicting term at once.
                let first_of_term = self.log[..prev_index as usize]
                    .iter()
                    .rev()
                    .take_while(|e| e.term == t)
                    .last()
                    .map_or(prev_index, |e| e.index);
                return reject(self, first_of_term.saturating_sub(1).max(self.commit));
            }
            Some(_) => {}
        }
        let last_new = prev_index + entries.len() as u64;
        let mut fresh = Vec::new();
        for e in entries {
            if !fresh.is_empty() {
                fresh.push(e);
                continue;
            }
            match self.term_at(e.index) {
                Some(t) if t == e.term => {}
                Some(_) => {
                    // A conflict: the suffix from here was never committed (log matching and
                    // leader completeness), so it goes.
                    debug_assert!(e.index > self.commit, "truncating a committed entry");
                    let r = self.storage.truncate_from(e.index);
                    if !self.check("truncate quorum.log", r) {
                        return;
                    }
                    self.log.truncate(e.index as usize - 1);
                    fresh.push(e);
                }
                None => fresh.push(e),
            }
        }
        if !fresh.is_empty() {
            let r = self
                .storage
                .append(&fresh)
                .and_then(|_| self.storage.sync());
            if !self.check("append to quorum.log", r) {
                return;
            }
            self.log.extend(fresh);
        }
        let new_commit = leader_commit.min(last_new);
        if new_commit > self.commit {
            self.commit = new_commit;
        }
        self.send(
            from,
            MessageBody::AppendEntriesResponse {
                index: last_new,
                success: true,
                hint: 0,
            },
        );
    }

    /// The messages to send since the last call.
    pub fn take_messages(&mut self) -> Vec<Message<T>> {
        std::mem::take(&mut self.msgs)
    }

    /// The entries committed since the last call, in index order (after a restart, the
    /// whole log again as the commit index is relearned).
    pub fn take_committed(&mut self) -> Vec<Entry<T>> {
        if self.commit <= self.delivered {
            return Vec::new();
        }
        let out = self.log[self.delivered as usize..self.commit as usize].to_vec();
        self.delivered = self.commit;
        out
    }
}
