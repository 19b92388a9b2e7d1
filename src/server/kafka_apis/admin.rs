//! Admin APIs on the wire: DeleteTopics and CreatePartitions, forwarded to the controller
//! one topic at a time (as CreateTopics is), and DescribeCluster from the live brokers'
//! client listeners.

use kafka_protocol::messages::{
    create_partitions_response, delete_topics_response, describe_cluster_response, BrokerId,
    CreatePartitionsRequest, CreatePartitionsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeClusterRequest, DescribeClusterResponse,
};

use super::{str_bytes, Backend, KafkaApis, MAX_PARTITIONS_PER_REQUEST};
use crate::broker::request::{MetadataRequest, Request, Response};
use crate::broker::ErrorCode;

/// DescribeCluster v1's endpoint type of a broker listener (2 is a controller's).
const ENDPOINT_TYPE_BROKER: i8 = 1;
const UNSUPPORTED_ENDPOINT_TYPE: i16 = 120;

impl<B: Backend> KafkaApis<B> {
    /// DeleteTopics by name (v1-5). The controller removes the topic; its partitions go
    /// offline and every replica deletes its log.
    pub(super) async fn delete_topics(
        &self,
        req: DeleteTopicsRequest,
        version: i16,
    ) -> DeleteTopicsResponse {
        let mut resp = DeleteTopicsResponse::default();
        for name in &req.topic_names {
            let internal = Request::DeleteTopics {
                name: name.0.to_string(),
            };
            let mut r = delete_topics_response::DeletableTopicResult::default();
            r.name = Some(name.clone());
            r.error_code = self
                .backend
                .forward_to_controller(internal)
                .await
                .error()
                .code();
            if version >= 5 && r.error_code != 0 {
                r.error_message = Some(str_bytes(
                    ErrorCode::from_code(r.error_code).map_or("", |e| e.name()),
                ));
            }
            resp.responses.push(r);
        }
        resp
    }

    /// CreatePartitions: grows each topic to `count` partitions. Explicit assignments are
    /// refused (not modelled yet) rather than ignored.
    pub(super) async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
    ) -> CreatePartitionsResponse {
        let mut resp = CreatePartitionsResponse::default();
        for t in &req.topics {
            let (error, message) = if t.count > MAX_PARTITIONS_PER_REQUEST {
                (
                    ErrorCode::InvalidPartitions.code(),
                    Some("more partitions than one request may create (10000)"),
                )
            } else if t.assignments.as_ref().is_some_and(|a| !a.is_empty()) {
                (
                    ErrorCode::InvalidReplicaAssignment.code(),
                    Some("explicit replica assignments are not supported yet"),
                )
            } else if req.validate_only {
                (0, None)
            } else {
                let internal = Request::CreatePartitions {
                    name: t.name.0.to_string(),
                    count: t.count,
                };
                let code = self.backend.forward_to_controller(internal).await.error();
                (code.code(), None)
            };
            let mut r = create_partitions_response::CreatePartitionsTopicResult::default();
            r.name = t.name.clone();
            r.error_code = error;
            r.error_message = message.map(str_bytes);
            resp.results.push(r);
        }
        resp
    }

    /// DescribeCluster: the cluster id, a controller id (as Metadata names it) and the live
    /// brokers' client listeners.
    pub(super) async fn describe_cluster(
        &self,
        req: DescribeClusterRequest,
        version: i16,
    ) -> DescribeClusterResponse {
        let mut resp = DescribeClusterResponse::default();
        resp.cluster_id = str_bytes(&self.config.cluster_id);
        resp.controller_id = BrokerId(self.config.listeners.keys().next().copied().unwrap_or(-1));
        // No authorizer: the operations are left out (Kafka's INT32_MIN), asked for or not.
        resp.cluster_authorized_operations = i32::MIN;
        if version >= 1 {
            resp.endpoint_type = ENDPOINT_TYPE_BROKER;
            if req.endpoint_type != ENDPOINT_TYPE_BROKER {
                resp.error_code = UNSUPPORTED_ENDPOINT_TYPE;
                resp.error_message = Some(str_bytes("only broker endpoints are described"));
                return resp;
            }
        }
        let internal = Request::Metadata(MetadataRequest {
            topics: Some(Vec::new()),
            allow_auto_topic_creation: false,
        });
        match self.backend.handle(internal).await {
            Some(Response::Metadata(m)) => {
                for (id, _) in &m.brokers {
                    let Some((host, port)) = self.config.listeners.get(id) else {
                        continue;
                    };
                    let mut b = describe_cluster_response::DescribeClusterBroker::default();
                    b.broker_id = BrokerId(*id);
                    b.host = str_bytes(host);
                    b.port = i32::from(*port);
                    resp.brokers.push(b);
                }
            }
            other => {
                resp.error_code = other
                    .map_or(ErrorCode::UnknownServerError, |r| r.error())
                    .code()
            }
        }
        resp
    }
}
