//! Reference WebSocket echo server on soketto (its own handshake, futures-io
//! through tokio-util's compat layer), with its permessage-deflate
//! extension, for the side-by-side comparison in `scripts/bench-compare.sh`.
//!
//! ```text
//! cargo run --release --example ref_ws_soketto -- 127.0.0.1:0
//! cargo run --release --example ref_ws_soketto -- 127.0.0.1:0 --compression off
//! ```
//!
//! Prints `listening PORT` once bound. soketto validates no UTF-8 itself:
//! a text message that is not UTF-8 ends the connection here (its `send_text`
//! takes a `str`). Messages are limited to 1 MiB as in duplex
//! (`--max-message N` to change), counted before inflating: soketto's
//! deflate extension inflates a message in full, with no limit of its own.

use soketto::connection::Builder;
use soketto::data::{Data, Incoming};
use soketto::extension::deflate::Deflate;
use soketto::handshake::server::{Response, Server};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::compat::TokioAsyncReadCompatExt;

async fn serve(
    stream: TcpStream,
    compression: bool,
    max_message: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = Server::new(stream.compat());
    if compression {
        server.add_extension(Box::new(Deflate::new(soketto::Mode::Server)));
    }
    let key = server.receive_request().await?.key();
    server
        .send_response(&Response::Accept {
            key,
            protocol: None,
        })
        .await?;
    let mut builder: Builder<_> = server.into_builder();
    builder.set_max_message_size(max_message);
    builder.set_max_frame_size(max_message);
    let (mut sender, mut receiver) = builder.finish();
    let mut message = Vec::new();
    loop {
        message.clear();
        match receiver.receive(&mut message).await? {
            Incoming::Data(Data::Text(_)) => {
                sender.send_text(std::str::from_utf8(&message)?).await?;
                sender.flush().await?;
            }
            Incoming::Data(Data::Binary(_)) => {
                sender.send_binary(&message).await?;
                sender.flush().await?;
            }
            Incoming::Pong(_) => {}
            Incoming::Closed(_) => return Ok(()),
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let compression = !args
        .windows(2)
        .any(|w| w[0] == "--compression" && w[1] == "off");
    let max_message = args
        .windows(2)
        .find(|w| w[0] == "--max-message")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(1 << 20);
    let listener = TcpListener::bind(&addr).await?;
    println!("listening {}", listener.local_addr()?.port());
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            if let Err(e) = serve(stream, compression, max_message).await {
                eprintln!("ref_ws_soketto: {e}");
            }
        });
    }
}
