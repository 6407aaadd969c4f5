//! `duplex bridge FROM TO` for all 36 pairs of tcp, unix, tls, udp, ws and
//! wss (docs/behaviour.md, "Relaying"): a real client on FROM, `duplex serve
//! echo` on TO, data of every size both ways and back unchanged, counted
//! each way; message boundaries kept where both sides have them, and a
//! WebSocket's message type kept from WebSocket to WebSocket; the client's
//! end (half-close, WebSocket close) passed on, and the session over.

mod bridgeutil;
mod common;
mod tlsutil;

use bridgeutil::*;
use common::*;
use tlsutil::{make_cert, tls_args};
use tokio_tungstenite::tungstenite::Message;

const SIZES: [usize; 5] = [1, 100, 1400, 16 * 1024, 60_000];

/// FROM → TO through `duplex serve echo` on TO.
fn relays_both_ways(from: T, to: T) {
    let dir = tempdir();
    let cert = make_cert(dir.path());
    let upstream = echo_upstream(to, dir.path(), &cert);
    let ca = cert.cert.display().to_string();
    let mut extra: Vec<String> = vec!["--metrics".into(), "tcp://127.0.0.1:0".into()];
    if matches!(from, T::Tls | T::Wss) {
        extra.extend(tls_args(&cert));
    }
    if matches!(to, T::Tls | T::Wss) {
        extra.extend(["--ca".into(), ca]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let b = bridge(
        &from.listen_url(dir.path(), "from.sock"),
        upstream.url(0),
        &extra,
    );
    let mut client = Client::to(bridge_url(&b), &cert);
    for size in SIZES {
        let pieces = client.round_trip(&binary(size));
        if from.messages() && to.messages() {
            assert_eq!(pieces, 1, "{size} bytes: one message each way");
        }
    }
    let metrics_url = b.url(0).to_string();
    // The bridge counts a datagram or message once it has been written on,
    // which may be just after the client has it back: poll, within WAIT.
    let transport = from.label();
    let want: u64 = SIZES.iter().map(|&n| n as u64).sum();
    let keys = ["duplex_bytes_received_total", "duplex_bytes_sent_total"]
        .map(|name| format!("{name}{{service=\"bridge\",transport=\"{transport}\"}}"));
    let mut text = String::new();
    let counted = eventually(WAIT, || {
        text = metrics(&metrics_url);
        keys.iter().all(|k| sample(&text, k) == Some(want))
    });
    assert!(counted, "{keys:?}: want {want} each:\n{text}");
    let mut bytes: u64 = SIZES.iter().map(|&n| n as u64).sum();
    if let Client::Ws(ws) = &mut client {
        // The type of a message: kept to a WebSocket, binary otherwise.
        ws.send(Message::text("héllo")).expect("send text");
        bytes += "héllo".len() as u64;
        match ws_next(ws) {
            WsNext::Msg(Message::Text(t)) if matches!(to, T::Ws | T::Wss) => {
                assert_eq!(t.as_str(), "héllo")
            }
            WsNext::Msg(Message::Binary(b)) if !matches!(to, T::Ws | T::Wss) => {
                assert_eq!(&b[..], "héllo".as_bytes())
            }
            other => panic!("text to {to:?} came back as {other:?}"),
        }
    }
    match client {
        Client::Stream(mut c) => {
            c.shutdown_write();
            if to == T::Udp {
                // UDP has no end: the session ends when the upstream has
                // been quiet for --wait after the client's.
                log_lines(&b, &["session closed", "(--wait)"], 1);
            } else {
                c.expect_eof(WAIT);
                log_lines(&b, &["session closed", "client closed first"], 1);
            }
        }
        Client::Ws(mut ws) => {
            ws.close(None).expect("close");
            match ws_next(&mut ws) {
                WsNext::Close(_) => {}
                other => panic!("expected the answer to the close, got {other:?}"),
            }
            let line = log_lines(&b, &["session closed", "client closed first"], 1);
            let want = format!("bytes_in={bytes} bytes_out={bytes}");
            assert!(line[0].contains(&want), "{line:?}");
        }
        // A UDP client has no end of its own: its session idles out.
        Client::Udp(_) => return,
    }
    sessions_end(&metrics_url, transport);
}

macro_rules! matrix {
    ($($name:ident: $from:ident -> $to:ident;)*) => {
        $(
            #[test]
            fn $name() {
                relays_both_ways(T::$from, T::$to);
            }
        )*
    };
}

matrix! {
    tcp_to_tcp: Tcp -> Tcp;
    tcp_to_unix: Tcp -> Unix;
    tcp_to_tls: Tcp -> Tls;
    tcp_to_udp: Tcp -> Udp;
    tcp_to_ws: Tcp -> Ws;
    tcp_to_wss: Tcp -> Wss;
    unix_to_tcp: Unix -> Tcp;
    unix_to_unix: Unix -> Unix;
    unix_to_tls: Unix -> Tls;
    unix_to_udp: Unix -> Udp;
    unix_to_ws: Unix -> Ws;
    unix_to_wss: Unix -> Wss;
    tls_to_tcp: Tls -> Tcp;
    tls_to_unix: Tls -> Unix;
    tls_to_tls: Tls -> Tls;
    tls_to_udp: Tls -> Udp;
    tls_to_ws: Tls -> Ws;
    tls_to_wss: Tls -> Wss;
    udp_to_tcp: Udp -> Tcp;
    udp_to_unix: Udp -> Unix;
    udp_to_tls: Udp -> Tls;
    udp_to_udp: Udp -> Udp;
    udp_to_ws: Udp -> Ws;
    udp_to_wss: Udp -> Wss;
    ws_to_tcp: Ws -> Tcp;
    ws_to_unix: Ws -> Unix;
    ws_to_tls: Ws -> Tls;
    ws_to_udp: Ws -> Udp;
    ws_to_ws: Ws -> Ws;
    ws_to_wss: Ws -> Wss;
    wss_to_tcp: Wss -> Tcp;
    wss_to_unix: Wss -> Unix;
    wss_to_tls: Wss -> Tls;
    wss_to_udp: Wss -> Udp;
    wss_to_ws: Wss -> Ws;
    wss_to_wss: Wss -> Wss;
}
