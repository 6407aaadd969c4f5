//! Reference WebSocket echo server on tokio-websockets, for the side-by-side
//! comparison in `scripts/bench-ws.sh`.
//!
//! ```text
//! cargo run --release --example ref_ws_tokio_websockets -- 127.0.0.1:0
//! ```
//!
//! Prints `listening PORT` once bound.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_websockets::ServerBuilder;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let Ok((_request, mut ws)) = ServerBuilder::new().accept(stream).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                    return;
                }
            }
        });
    }
}
