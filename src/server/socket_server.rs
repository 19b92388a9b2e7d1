//! Kafka's `SocketServer` for one broker's client listener: each connection reads a 4-byte
//! big-endian size, then that many bytes of request, and answers in order (one request at
//! a time per connection, as Kafka mutes a channel until its response is sent; a long poll
//! holds only its own connection).
//!
//! A frame larger than `socket.request.max.bytes` or with a negative size, or one
//! [`KafkaApis`] cannot answer, closes that connection only.
//!
//! Fetch answers send their records from the segment files with `sendfile(2)` on Linux
//! (Kafka's zero-copy transfer): the bytes go from the page cache to the socket without
//! entering this process. Elsewhere they are read and written.

use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::kafka_apis::{Backend, KafkaApis, Outcome, ResponsePart};
use crate::storage::FileRegion;

pub use super::settings::DEFAULT_SOCKET_REQUEST_MAX_BYTES;

/// Accepts client connections until the task is dropped.
pub async fn serve<B>(listener: TcpListener, apis: Arc<KafkaApis<B>>, max_request_bytes: usize)
where
    B: Backend + Send + Sync + 'static,
{
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of descriptors and the like: the listener stays up.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let apis = apis.clone();
        tokio::spawn(async move {
            if let Err(reason) = connection(stream, &apis, max_request_bytes).await {
                eprintln!("closing connection from {peer}: {reason}");
            }
        });
    }
}

/// Serves one connection until the client closes it (`Ok`) or it must be closed (`Err`).
async fn connection<B: Backend>(
    stream: TcpStream,
    apis: &KafkaApis<B>,
    max_request_bytes: usize,
) -> Result<(), String> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let mut size = [0u8; 4];
        match reader.read_exact(&mut size).await {
            Ok(_) => {}
            // The client went away between requests: its business.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(())
            }
            Err(e) => return Err(e.to_string()),
        }
        let size = i32::from_be_bytes(size);
        if size < 0 || size as usize > max_request_bytes {
            return Err(format!(
                "a request of {size} bytes is outside 0..={max_request_bytes} (socket.request.max.bytes)"
            ));
        }
        let mut frame = vec![0u8; size as usize];
        reader
            .read_exact(&mut frame)
            .await
            .map_err(|e| format!("reading a {size}-byte request: {e}"))?;
        match apis.handle_frame(Bytes::from(frame)).await {
            Outcome::Respond(body) => {
                let len = (body.len() as u32).to_be_bytes();
                writer.write_all(&len).await.map_err(|e| e.to_string())?;
                writer.write_all(&body).await.map_err(|e| e.to_string())?;
            }
            Outcome::RespondParts(parts) => {
                let total: u64 = parts.iter().map(ResponsePart::len).sum();
                let len = u32::try_from(total)
                    .map_err(|_| format!("a {total}-byte response does not fit a frame"))?
                    .to_be_bytes();
                writer.write_all(&len).await.map_err(|e| e.to_string())?;
                for part in parts {
                    match part {
                        ResponsePart::Bytes(b) => {
                            writer.write_all(&b).await.map_err(|e| e.to_string())?
                        }
                        ResponsePart::File(region) => send_region(writer.as_ref(), &region).await?,
                    }
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => return Err(reason),
        }
    }
}

/// Writes `region` of its file to the socket: `sendfile(2)` from the page cache on Linux,
/// waiting for the socket to drain whenever it is full.
#[cfg(target_os = "linux")]
async fn send_region(stream: &TcpStream, region: &FileRegion) -> Result<(), String> {
    use tokio::io::Interest;
    let mut offset = region.position;
    let end = region.position + region.len;
    while offset < end {
        stream.writable().await.map_err(|e| e.to_string())?;
        let left = (end - offset) as usize;
        match stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*region.file, Some(&mut offset), left)
                .map_err(std::io::Error::from)
        }) {
            // The file ends before the region does (truncated meanwhile): the frame
            // cannot be completed, so the connection is closed.
            Ok(0) => {
                return Err(format!(
                    "sendfile: the log ended {} bytes short",
                    end - offset
                ))
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(format!("sendfile: {e}")),
        }
    }
    super::kafka_apis::zero_copy::count_sent(region.len, true);
    Ok(())
}

/// Writes `region` of its file to the socket (read into memory where `sendfile` is not
/// available).
#[cfg(not(target_os = "linux"))]
async fn send_region(stream: &TcpStream, region: &FileRegion) -> Result<(), String> {
    let bytes = region.read_to_vec().map_err(|e| e.to_string())?;
    let mut done = 0;
    while done < bytes.len() {
        stream.writable().await.map_err(|e| e.to_string())?;
        match stream.try_write(&bytes[done..]) {
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    super::kafka_apis::zero_copy::count_sent(region.len, false);
    Ok(())
}
