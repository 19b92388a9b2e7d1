//! Real mode: the same brokers and controllers as the simulation, on TCP and the real
//! disk, reachable by real Kafka clients (`kafka-sim serve`).
//!
//! - [`kafka_apis`]: Kafka's wire protocol mapped onto the broker's requests (both builds,
//!   so its unit tests run with the simulation's);
//! - [`socket_server`]: the client listener, size-prefixed frames on a TCP socket;
//! - [`kafka_raft_server`]: one process running N brokers and the controller quorum;
//! - [`node_server`]: one node per process from a KRaft `server.properties`
//!   ([`properties`]), so a process can die alone;
//! - [`settings`]: the broker keys both take.
//!
//! Inter-node traffic (replication, heartbeats, the metadata log) keeps the project's own
//! RPC, over the project's own TCP endpoint in this build (`broker::transport`).

pub mod kafka_apis;
#[cfg(not(madsim))]
pub mod kafka_raft_server;
#[cfg(not(madsim))]
pub mod node_server;
pub mod properties;
pub mod settings;
#[cfg(not(madsim))]
pub mod socket_server;
