//! The origin policy for browser WebSocket handshakes: the defence against
//! cross-site WebSocket hijacking, where a page on another site opens a
//! session with the visitor's network position.

/// Whether a handshake with this `Origin` header may proceed.
///
/// A request without `Origin` comes from a non-browser client and is always
/// allowed. A browser request is allowed when its origin is the listener
/// itself (same host and port as the `Host` header), or matches an
/// `--allowed-origin` entry: `*` (anything), a full origin
/// (`https://app.example.com`), a host (`app.example.com`, any scheme and
/// port) or a wildcard host (`*.example.com`). With no `--allowed-origin`,
/// pages served from a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`)
/// are allowed too, which keeps local development convenient while a page on
/// any other site is refused.
pub fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    let origin = origin.trim().to_ascii_lowercase();
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let Some((_, authority)) = origin.split_once("://") else {
        // "null" (sandboxed frames, file:// pages) and garbage.
        return false;
    };
    if host.is_some_and(|h| h.trim().eq_ignore_ascii_case(authority)) {
        return true;
    }
    let origin_host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if allowed.is_empty() {
        return origin_host == "localhost"
            || origin_host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
    }
    allowed.iter().any(|a| {
        let a = a.trim().to_ascii_lowercase();
        if a.contains("://") {
            a == origin
        } else if let Some(suffix) = a.strip_prefix("*.") {
            origin_host.len() > suffix.len() + 1
                && origin_host.ends_with(suffix)
                && origin_host.as_bytes()[origin_host.len() - suffix.len() - 1] == b'.'
        } else {
            a == origin_host
        }
    })
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn origin_policy() {
        let none: Vec<String> = Vec::new();
        // Same origin, loopback pages by default; other sites refused.
        assert!(origin_allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(origin_allowed(
            "http://example.com",
            Some("example.com"),
            &none
        ));
        assert!(origin_allowed(
            "http://localhost:3000",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(origin_allowed(
            "http://[::1]:3000",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(!origin_allowed(
            "https://evil.example",
            Some("127.0.0.1:8080"),
            &none
        ));
        assert!(!origin_allowed("null", Some("127.0.0.1:8080"), &none));
        // An explicit list replaces the loopback convenience.
        let list = vec![
            "*.example.com".to_string(),
            "https://app.test".to_string(),
            "other.org".to_string(),
        ];
        assert!(origin_allowed("https://a.example.com", None, &list));
        assert!(origin_allowed("http://b.a.example.com:81", None, &list));
        assert!(!origin_allowed("https://example.com", None, &list));
        assert!(!origin_allowed("https://badexample.com", None, &list));
        assert!(origin_allowed("https://app.test", None, &list));
        assert!(!origin_allowed("http://app.test", None, &list));
        assert!(origin_allowed("http://other.org:9000", None, &list));
        assert!(!origin_allowed("http://localhost:3000", None, &list));
        assert!(origin_allowed("https://anything", None, &["*".to_string()]));
    }
}
