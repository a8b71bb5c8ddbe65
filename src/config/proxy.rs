//! The proxy URL, read once for validation, redaction and the secret registry.
//!
//! Three readers see the `proxy` text: `url::Url` (validation, `http::host_of`), ureq's own
//! `Proxy::new` (the transport: it splits on `://`, the last `@` and `:`, and sends the user name
//! and password exactly as written, without decoding `%XX`) and redaction. Where they disagree
//! (extra slashes after the scheme, a second `@`, brackets, `%XX` escapes, characters `url`
//! percent-encodes) a redaction that follows one of them can miss the password another one sends.
//! So only the form all of them read alike is accepted: `scheme://[user:password@]host[:port][/]`,
//! with user name and password made of characters that need no escaping, and a lowercase DNS name
//! or IPv4 address as host. [`parse`] checks that form (and cross-checks it against `url::Url` and
//! ureq); [`redact`] and [`passwords`] build on the same reading.

use std::ops::Range;

use percent_encoding::percent_decode_str;
use url::Url;

/// Proxy schemes the HTTP transport (ureq) can use.
pub(super) const PROXY_SCHEMES: [&str; 5] = ["http", "socks", "socks4", "socks4a", "socks5"];

/// Characters a proxy user name or password may hold: those no reader escapes or splits on
/// (RFC 3986 unreserved, and the sub-delimiters `url` leaves as they are in userinfo).
const USERINFO_PUNCTUATION: &str = "-._~!$&'()*+,";

/// The one reading of an accepted proxy URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ProxyUrl<'a> {
    pub scheme: &'a str,
    pub user: Option<&'a str>,
    pub password: Option<&'a str>,
    /// Where the password is in the text (for redaction).
    pub password_at: Option<Range<usize>>,
    pub host: &'a str,
    pub port: Option<u16>,
}

/// Reads `raw` as `scheme://[user:password@]host[:port][/]`, or says what to write instead. The
/// message never quotes the URL's user name or password.
pub(super) fn parse(raw: &str) -> Result<ProxyUrl<'_>, String> {
    let shown_scheme = raw.split_once(':').map(|(s, _)| s.to_ascii_lowercase()).filter(|s| PROXY_SCHEMES.contains(&s.as_str()));
    let scheme_hint = shown_scheme.as_deref().unwrap_or("http");
    let shape = || {
        format!(
            "write the proxy URL as {scheme_hint}://[user:password@]host:port, with exactly two slashes after `{scheme_hint}:` and without spaces, \
             backslashes or anything around it, e.g. http://proxy.contoso.com:8080"
        )
    };
    let Some((scheme, rest)) = raw.split_once("://") else { return Err(shape()) };
    if !PROXY_SCHEMES.contains(&scheme) || rest.starts_with('/') || raw.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace()) {
        return Err(shape());
    }
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_len);
    if !tail.is_empty() && tail != "/" {
        return Err(
            "the proxy URL has a path, query or fragment; a proxy is only scheme://[user:password@]host:port, e.g. http://proxy.contoso.com:8080".to_owned()
        );
    }
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (mut user, mut password, mut password_at) = (None, None, None);
    if let Some(userinfo) = userinfo {
        let Some((name, secret)) = userinfo.split_once(':') else {
            return Err(format!(
                "the proxy URL has a user name but no password (the HTTP client would not send it); write {scheme}://user:password@host:port, or leave both out"
            ));
        };
        if name.is_empty() || secret.is_empty() {
            return Err(format!(
                "the proxy URL needs both a user name and a password, or neither; write {scheme}://user:password@host:port or {scheme}://host:port"
            ));
        }
        let plain = |s: &str| s.chars().all(|c| c.is_ascii_alphanumeric() || USERINFO_PUNCTUATION.contains(c));
        if !plain(name) || !plain(secret) {
            return Err(format!(
                "write the proxy URL as {scheme}://user:password@host:port with a user name and password of only letters, digits and \
                 {USERINFO_PUNCTUATION} (the HTTP client sends them exactly as written, so %XX escapes are not decoded, and @ : / ; = % # ? [ ] \
                 and non-ASCII characters would be read differently by the URL parser and the HTTP client); use a proxy account whose \
                 password has none of them, or let the proxy allow this server without a password"
            ));
        }
        let start = scheme.len() + "://".len() + name.len() + 1;
        (user, password, password_at) = (Some(name), Some(secret), Some(start..start + secret.len()));
    }
    if host_port.contains(['[', ']']) {
        return Err("the proxy host is an IPv6 address, which the HTTP client cannot use as a proxy; give the proxy's DNS name or IPv4 address, e.g. http://proxy.contoso.com:8080".to_owned());
    }
    let (host, port_text) = match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    };
    if host.is_empty() || !host.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
        return Err(format!(
            "the proxy host must be a DNS name or an IPv4 address in lowercase letters, digits, - and . (e.g. {scheme}://proxy.contoso.com:8080)"
        ));
    }
    let port = match port_text {
        None => None,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 && text.bytes().all(|b| b.is_ascii_digit()) && !text.starts_with('0') => Some(port),
            _ => return Err(format!("the proxy port must be a number from 1 to 65535 after the host, e.g. {scheme}://proxy.contoso.com:8080")),
        },
    };
    let proxy = ProxyUrl { scheme, user, password, password_at, host, port };
    cross_check(raw, &proxy)?;
    Ok(proxy)
}

/// The URL parser and the HTTP client must read what `parse` read; anything else is refused.
fn cross_check(raw: &str, proxy: &ProxyUrl<'_>) -> Result<(), String> {
    let ProxyUrl { scheme, user, password, host, port, .. } = proxy;
    let Ok(url) = Url::parse(raw) else {
        return Err(format!("the value is not a URL; write it as {scheme}://[user:password@]host:port, e.g. http://proxy.contoso.com:8080"));
    };
    if url.host_str() != Some(*host) {
        let read = url.host_str().unwrap_or_default();
        return Err(format!("the proxy host `{host}` reads as `{read}` to the URL parser; write {scheme}://[user:password@]{read}:port instead"));
    }
    let Some(default_port) = url.port_or_known_default().filter(|p| port.is_none_or(|port| *p == port)) else {
        return Err(format!("the proxy URL needs a port after the host, e.g. {scheme}://proxy.contoso.com:1080"));
    };
    if url.username() != user.unwrap_or_default()
        || url.password() != *password
        || !matches!(url.path(), "" | "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!("the proxy URL reads differently to the URL parser and the HTTP client; write it as {scheme}://[user:password@]host:port"));
    }
    // The transport builds its proxy from the same text (http.rs); what it cannot read is refused now.
    if ureq::Proxy::new(raw).is_err() {
        return Err(format!("the value is not a proxy URL the HTTP client accepts; write it as {scheme}://[user:password@]host:{default_port}"));
    }
    Ok(())
}

/// `raw` with its password replaced by `mask`. A URL that is not in the accepted form is hidden
/// whole when it has any `@` (then no reader can be trusted to have found the password).
pub(super) fn redact(raw: &str, mask: &str) -> String {
    match parse(raw) {
        Ok(ProxyUrl { password_at: Some(at), .. }) => format!("{}{mask}{}", &raw[..at.start], &raw[at.end..]),
        Ok(_) => raw.to_owned(),
        Err(_) if raw.contains('@') => mask.to_owned(),
        Err(_) => raw.to_owned(),
    }
}

/// Every string some reader of `raw` takes as its password, raw and percent-decoded: ureq's (what
/// the transport sends), `url::Url`'s and the accepted form's. For the secret registry, which must
/// hold the password whatever the text looks like, accepted or not.
pub(super) fn passwords(raw: &str) -> Vec<String> {
    let mut readings: Vec<String> = Vec::new();
    // ureq's reading (ureq 2.12 `Proxy::new`): trailing slashes off, after the first `://`, up to
    // the last `@`, after the first `:`.
    let trimmed = raw.trim_end_matches('/');
    let after_scheme = trimmed.split_once("://").map_or(trimmed, |(_, rest)| rest);
    if let Some((creds, _)) = after_scheme.rsplit_once('@') {
        readings.extend(creds.split_once(':').map(|(_, p)| p.to_owned()));
    }
    // url::Url's reading (percent-encoded as it serialises it).
    if let Ok(url) = Url::parse(raw) {
        readings.extend(url.password().map(str::to_owned));
    }
    // The authority of the raw text, up to its first `/`, `?` or `#`.
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        readings.extend(userinfo.split_once(':').map(|(_, p)| p.to_owned()));
    }
    let mut all: Vec<String> = Vec::new();
    for reading in readings {
        let decoded = percent_decode_str(&reading).decode_utf8_lossy().into_owned();
        for form in [reading, decoded] {
            if !form.is_empty() && !all.contains(&form) {
                all.push(form);
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The password as ureq 2.12 will send it, read from its `Debug` form (its fields are private):
    /// an oracle independent of `parse`.
    fn ureq_password(raw: &str) -> Option<String> {
        let debug = format!("{:?}", ureq::Proxy::new(raw).ok()?);
        let start = debug.find("password: Some(\"")? + "password: Some(\"".len();
        let end = debug[start..].find("\"), proto:")? + start;
        Some(debug[start..end].to_owned())
    }

    #[test]
    fn the_accepted_form_is_read_alike_by_every_reader() {
        for (raw, user, password, host, port) in [
            ("http://proxy.contoso.com:8080", None, None, "proxy.contoso.com", Some(8080)),
            ("http://proxy.contoso.com:8080/", None, None, "proxy.contoso.com", Some(8080)),
            ("http://proxy.contoso.com", None, None, "proxy.contoso.com", None),
            ("http://alice:pa55-word.~!$&'()*+,@proxy.contoso.com:8080", Some("alice"), Some("pa55-word.~!$&'()*+,"), "proxy.contoso.com", Some(8080)),
            ("socks5://bob:s3cret-77@10.0.0.7:1080", Some("bob"), Some("s3cret-77"), "10.0.0.7", Some(1080)),
        ] {
            let proxy = parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!((proxy.user, proxy.password, proxy.host, proxy.port), (user, password, host, port), "{raw}");
            assert_eq!(ureq_password(raw).as_deref(), password, "ureq reads the same password in {raw}");
            assert_eq!(Url::parse(raw).unwrap().password(), password, "url reads the same password in {raw}");
            if let Some(at) = proxy.password_at {
                assert_eq!(&raw[at], password.unwrap());
            }
        }
    }

    #[test]
    fn forms_the_readers_disagree_on_are_refused_without_quoting_the_password() {
        for raw in [
            "http:///u]er:pa55wordms@state",
            "http:///user:pa55wordms@proxy.contoso.com:8080",
            "http:////user:pa55wordms@proxy.contoso.com:8080",
            "http://user:pa55w@rdms@proxy.contoso.com:8080",
            "http://us]er:pa55wordms@proxy.contoso.com:8080",
            "http://[user:pa55wordms@proxy.contoso.com:8080",
            "http://user:pa55%40wordms@proxy.contoso.com:8080",
            "http://us%3Aer:pa55wordms@proxy.contoso.com:8080",
            "http://user:pa55:wordms@proxy.contoso.com:8080",
            "http://user:pa55;word=ms@proxy.contoso.com:8080",
            "http://user@proxy.contoso.com:8080",
            "http://user:@proxy.contoso.com:8080",
            "http://:pa55wordms@proxy.contoso.com:8080",
            "http://user:pa55wordms@[::1]:8080",
            "http://user:pa55wordms@[fe80::1%25eth0]:8080",
            "http://user:pa55wordms@Proxy.Contoso.com:8080",
            "http://user:pa55wordms@0x7f.1:8080",
            "http://user:pa55wordms@proxy.contoso.com:08080",
            "http://user:pa55wordms@proxy.contoso.com:99999",
            "http://user:pa55wordms@proxy.contoso.com:8080//",
            "HTTP://user:pa55wordms@proxy.contoso.com:8080",
            "user:pa55wordms@proxy.contoso.com:8080",
            "socks5://user:pa55wordms@proxy.contoso.com",
            "http://user:pässwordms@proxy.contoso.com:8080",
        ] {
            let message = parse(raw).expect_err(raw);
            assert!(!message.contains("pa55") && !message.contains("wordms"), "{raw}: {message}");
            assert!(message.contains("://") || message.contains("port"), "says what to write: {raw}: {message}");
            assert!(!redact(raw, "***").contains("pa55"), "{raw}");
        }
    }

    #[test]
    fn every_reading_of_the_password_is_a_secret() {
        // The input: ureq reads `pa55wordms`, the raw authority `pa55wordms` too, url none.
        let found = passwords("http:///u]er:pa55wordms@state");
        assert!(found.contains(&"pa55wordms".to_owned()), "{found:?}");
        let found = passwords("http://user:s3cr%40t-99@proxy.contoso.com:8080");
        assert!(found.contains(&"s3cr%40t-99".to_owned()) && found.contains(&"s3cr@t-99".to_owned()), "raw and decoded: {found:?}");
        let found = passwords("http://user:pa55w@rdms@proxy.contoso.com:8080");
        assert!(found.contains(&"pa55w@rdms".to_owned()) && found.contains(&"pa55w%40rdms".to_owned()), "ureq's and url's: {found:?}");
        assert!(passwords("http://proxy.contoso.com:8080").is_empty());
    }

    #[test]
    fn redaction_masks_what_the_transport_would_send() {
        let raw = "http://alice:pw12345@proxy:8080";
        assert_eq!(redact(raw, "***"), "http://alice:***@proxy:8080");
        assert_eq!(ureq_password(&redact(raw, "***")).as_deref(), Some("***"));
        assert_eq!(redact("http://proxy:8080", "***"), "http://proxy:8080");
        assert_eq!(redact("http:///u]er:pa55wordms@state", "***"), "***");
    }
}
