//! Reference WebSocket echo server on tokio-tungstenite: the smallest
//! idiomatic form, the yardstick for `duplex serve echo ws://…`.
//!
//! ```text
//! cargo run --release --example ref_ws_tungstenite -- 127.0.0.1:0
//! duplex connect ws://127.0.0.1:PORT/
//! ```
//!
//! Prints `listening PORT` once bound.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;

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
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
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
