//! The pieces of a SigV4 canonical request: URI encoding, the canonical URI,
//! the canonical query string and canonical header values.

/// RFC 3986 unreserved characters, which SigV4 never encodes.
const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Appends `input` URI-encoded the SigV4 way: unreserved bytes as they are,
/// `/` kept when `keep_slash`, everything else `%XX` with upper-case hex.
pub(crate) fn uri_encode_into(input: &[u8], keep_slash: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits stays literal.
/// `+` is left alone (SigV4 clients encode a space as `%20`).
fn percent_decode(input: &str) -> Vec<u8> {
    let b = input.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (b.get(i + 1).and_then(|&c| hex_value(c)), b.get(i + 2).and_then(|&c| hex_value(c)))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

pub(crate) fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The canonical URI of a raw (as sent, already percent-encoded) path, for
/// every service but S3: dot segments and empty segments removed as botocore
/// and AWS do, then the result URI-encoded once more (`/` kept). The second
/// encoding is AWS's "double encoding": `my%20app` becomes `my%2520app`.
pub fn canonical_uri(path: &str) -> String {
    let normalized = remove_dot_segments(path);
    let mut out = String::with_capacity(normalized.len() + 8);
    uri_encode_into(normalized.as_bytes(), true, &mut out);
    out
}

/// RFC 3986 dot-segment removal plus collapsing of repeated slashes (what
/// botocore's `remove_dot_segments` does); an empty result is `/`.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    if path.starts_with('/') || segments.is_empty() {
        out.push('/');
    }
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical query string of a raw query (without `?`): each `name=value`
/// pair decoded and re-encoded strictly, sorted by encoded name then value,
/// joined with `&`; a pair without `=` becomes `name=`. Empty pairs (`a=1&&b=2`)
/// are dropped.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let mut n = String::new();
            uri_encode_into(&percent_decode(name), false, &mut n);
            let mut v = String::new();
            uri_encode_into(&percent_decode(value), false, &mut v);
            (n, v)
        })
        .collect();
    pairs.sort_unstable();
    let mut out = String::with_capacity(query.len() + 8);
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// A canonical header value: each occurrence trimmed with inner whitespace
/// runs collapsed to one space, occurrences joined with `,`.
pub(crate) fn canonical_header_value<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, word) in value.split_ascii_whitespace().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_aws() {
        let mut s = String::new();
        uri_encode_into("a-b_c.d~e f/g+h=i%é".as_bytes(), false, &mut s);
        assert_eq!(s, "a-b_c.d~e%20f%2Fg%2Bh%3Di%25%C3%A9");
        let mut s = String::new();
        uri_encode_into(b"/a b/", true, &mut s);
        assert_eq!(s, "/a%20b/");
    }

    #[test]
    fn canonical_uris() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/api/v1/applications/my%20app/groups"), "/api/v1/applications/my%2520app/groups");
        assert_eq!(canonical_uri("/a/./b/../c//d/"), "/a/c/d/");
        assert_eq!(canonical_uri("/.."), "/");
        assert_eq!(canonical_uri("/a+b:c"), "/a%2Bb%3Ac");
    }

    #[test]
    fn canonical_queries() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("Version=2010-05-08&Action=ListUsers"), "Action=ListUsers&Version=2010-05-08");
        assert_eq!(canonical_query("b=2&a&a=1&a=0"), "a=&a=0&a=1&b=2");
        assert_eq!(canonical_query("k=a%2fb&x=%7E&sp=a%20b"), "k=a%2Fb&sp=a%20b&x=~");
        assert_eq!(canonical_query("q=a b&p=%zz"), "p=%25zz&q=a%20b");
        assert_eq!(canonical_query("&&a=1&"), "a=1");
    }

    #[test]
    fn header_values() {
        assert_eq!(canonical_header_value(["  a   b\tc  "].into_iter()), "a b c");
        assert_eq!(canonical_header_value(["x", " y "].into_iter()), "x,y");
    }
}
