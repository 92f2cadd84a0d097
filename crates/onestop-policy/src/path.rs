//! Path normalisation: the one canonical form of a request path, computed
//! before route matching and every rule, and forwarded upstream as is.
//!
//! Different spellings of one path must never get different decisions, and
//! the department must see exactly the path the decision was made on. So
//! [`normalize`] either returns the canonical path or refuses the request
//! (400) when the path carries a trick that some backend might read
//! differently from the gateway.
//!
//! # Rules
//!
//! The input is the path of the request target, without the query.
//!
//! 1. It must start with `/` ([`PathError::NotAbsolute`]) and be at most
//!    [`MAX_PATH_LEN`] bytes long, before and after normalisation
//!    ([`PathError::TooLong`]).
//! 2. `%` must be followed by two hex digits, in either case
//!    ([`PathError::BadPercentEncoding`]). An escape of an **unreserved**
//!    character (`A`–`Z`, `a`–`z`, `0`–`9`, `-`, `.`, `_`, `~`) is decoded to
//!    the character; every other escape is kept, its hex digits upper-cased
//!    (`%c3%a9` → `%C3%A9`), except these, which are refused:
//!    - `%2F` and `%5C`, an encoded slash or backslash ([`PathError::EncodedSlash`]);
//!    - `%00`–`%1F` and `%7F` ([`PathError::ControlCharacter`]);
//!    - `%3B`, an encoded `;` ([`PathError::PathParameter`]: a backend that
//!      decodes before it strips path parameters would read `..%3B` as `..;`).
//! 3. `%25` (an encoded `%`) followed by two hex digits — in the input, or
//!    once unreserved escapes are decoded (`%252F`, `%25%32%66`) — is double
//!    encoding ([`PathError::DoubleEncoding`]). `%25` followed by anything
//!    else is kept (`/a%25zz` stays as it is).
//! 4. A raw `\` is refused ([`PathError::Backslash`]); so is a raw control
//!    character ([`PathError::ControlCharacter`]), a raw `;` (matrix
//!    parameters, the Tomcat `..;/` trick: [`PathError::PathParameter`]) and
//!    a raw `?` or `#`, which cannot be part of a path
//!    ([`PathError::InvalidCharacter`]).
//! 5. Raw characters a URI may not hold (space, `"`, `<`, `>`, `` ` ``, `[`,
//!    `]`, `^`, `{`, `|`, `}` and every non-ASCII byte) are percent-encoded
//!    with upper-case hex (`/中` → `/%E4%B8%AD`). The other raw characters
//!    (unreserved, `!$&'()*+,=:@`) are kept.
//! 6. The bytes the path stands for — with every escape decoded — must be
//!    valid UTF-8 ([`PathError::NotUtf8`]): no overlong forms (`%C0%AF`), no
//!    surrogates, no truncated sequences.
//! 7. Repeated slashes collapse (`//a///b` → `/a/b`).
//! 8. Dot segments — `.` and `..`, also spelled with escapes (`%2e%2E`) —
//!    are resolved as RFC 3986 §5.2.4 does, after the slashes collapsed:
//!    `/a/./b` → `/a/b`, `/a/b/../c` → `/a/c`, and a path ending in a dot
//!    segment ends with `/` (`/a/b/..` → `/a/`). A `..` above the root is
//!    refused ([`PathError::AboveRoot`]), not clamped.
//! 9. A trailing slash is kept as sent: `/a/b/` stays `/a/b/` (routing
//!    treats it by its own rules).
//!
//! Letters keep their case, and Unicode is not normalised (NFC/NFKC): two
//! different byte sequences stay two different paths.
//!
//! The result is idempotent (`normalize(normalize(x)) == normalize(x)`),
//! starts with `/`, and holds no `//`, no `.` or `..` segment, no `\`, no
//! `;`, no `?`, no `#`, no lower-case hex in an escape and no escape of an
//! unreserved character. A path that is already canonical comes back
//! borrowed, without an allocation.

use std::borrow::Cow;
use std::fmt;

/// The longest path accepted (bytes), before and after normalisation.
pub const MAX_PATH_LEN: usize = 8 * 1024;

/// A canonical path (see the [module documentation](self)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Normalized<'a> {
    /// The canonical path: borrowed from the input when it was already
    /// canonical.
    pub path: Cow<'a, str>,
}

impl<'a> Normalized<'a> {
    /// The canonical path.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether the input was already canonical (the proxy then need not
    /// rewrite the request target).
    pub fn is_unchanged(&self) -> bool {
        matches!(self.path, Cow::Borrowed(_))
    }

    /// The canonical path as an owned string.
    pub fn into_string(self) -> String {
        self.path.into_owned()
    }
}

impl AsRef<str> for Normalized<'_> {
    fn as_ref(&self) -> &str {
        &self.path
    }
}

impl fmt::Display for Normalized<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)
    }
}

/// Why a path was refused (400). The messages name the rule, never echo the
/// path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{}", self.message())]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// The path is longer than [`MAX_PATH_LEN`] bytes.
    TooLong,
    /// A `%` without two hex digits after it.
    BadPercentEncoding,
    /// `%2F` or `%5C`.
    EncodedSlash,
    /// `%25` followed by two hex digits.
    DoubleEncoding,
    /// A control character, raw or encoded.
    ControlCharacter,
    /// A raw `\`.
    Backslash,
    /// A `..` segment above the root.
    AboveRoot,
    /// A `;` (path parameters), raw or encoded.
    PathParameter,
    /// The decoded path is not valid UTF-8.
    NotUtf8,
    /// A raw `?` or `#` in the path.
    InvalidCharacter,
}

impl PathError {
    /// A one-line message for the 400 body.
    pub fn message(&self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the request path must start with `/`",
            PathError::TooLong => "the request path is longer than 8192 bytes",
            PathError::BadPercentEncoding => {
                "the request path has a `%` that is not followed by two hex digits"
            }
            PathError::EncodedSlash => {
                "the request path has an encoded slash or backslash (`%2F`, `%5C`)"
            }
            PathError::DoubleEncoding => {
                "the request path is percent-encoded twice (`%25` followed by hex digits)"
            }
            PathError::ControlCharacter => "the request path has a control character",
            PathError::Backslash => "the request path has a backslash",
            PathError::AboveRoot => "the request path climbs above the root with `..`",
            PathError::PathParameter => "the request path has a `;` (path parameters)",
            PathError::NotUtf8 => "the request path is not valid UTF-8 once decoded",
            PathError::InvalidCharacter => "the request path has a raw `?` or `#`",
        }
    }

    /// A stable snake_case name (logs, metrics, tests).
    pub fn code(&self) -> &'static str {
        match self {
            PathError::NotAbsolute => "not_absolute",
            PathError::TooLong => "too_long",
            PathError::BadPercentEncoding => "bad_percent_encoding",
            PathError::EncodedSlash => "encoded_slash",
            PathError::DoubleEncoding => "double_encoding",
            PathError::ControlCharacter => "control_character",
            PathError::Backslash => "backslash",
            PathError::AboveRoot => "above_root",
            PathError::PathParameter => "path_parameter",
            PathError::NotUtf8 => "not_utf8",
            PathError::InvalidCharacter => "invalid_character",
        }
    }

    /// Every kind, in declaration order (tests, fuzz seeds).
    pub const ALL: [PathError; 11] = [
        PathError::NotAbsolute,
        PathError::TooLong,
        PathError::BadPercentEncoding,
        PathError::EncodedSlash,
        PathError::DoubleEncoding,
        PathError::ControlCharacter,
        PathError::Backslash,
        PathError::AboveRoot,
        PathError::PathParameter,
        PathError::NotUtf8,
        PathError::InvalidCharacter,
    ];
}

/// Normalises the path of a request target (without its query) to its
/// canonical form, or says why it is refused. See the
/// [module documentation](self) for the rules.
pub fn normalize(raw: &str) -> Result<Normalized<'_>, PathError> {
    if raw.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_plainly_canonical(raw) {
        return Ok(Normalized {
            path: Cow::Borrowed(raw),
        });
    }
    let out = rebuild(raw)?;
    if out.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    let path = if out == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(out)
    };
    Ok(Normalized { path })
}

/// Equivalent spellings of a canonical path, for tests that send many
/// spellings of one path and expect one decision.
///
/// Each returned string normalises to `normalize(canonical)`; the first is
/// that canonical path itself. The spellings: each unreserved character
/// percent-encoded (upper- and lower-case hex), pairs of neighbours
/// encoded, all of them encoded, kept escapes in lower-case hex, doubled and
/// tripled slashes, `./` (also as `%2e/`, `%2E/`) and `x/../` (also as
/// `x/%2e%2e/`, `%78/.%2E/`, …) inserted after each slash, and a few
/// combinations. No duplicates. A path of `n` unreserved characters and `s`
/// slashes yields about `3n + 19s` spellings (fewer where upper- and
/// lower-case hex coincide): `/api/v1/me/overview` has 110.
///
/// A `canonical` that [`normalize`] refuses yields no spellings.
pub fn variants(canonical: &str) -> Vec<String> {
    let Ok(norm) = normalize(canonical) else {
        return Vec::new();
    };
    let base = norm.into_string();
    let mut out: Vec<String> = vec![base.clone()];
    let push = |s: String, out: &mut Vec<String>| {
        if !out.contains(&s) && normalize(&s).is_ok_and(|n| n.as_str() == base) {
            out.push(s);
        }
    };

    // Positions of unreserved characters and of slashes (not the last
    // character: inserting after a trailing slash adds a segment).
    let bytes = base.as_bytes();
    let unreserved: Vec<usize> = (0..bytes.len())
        .filter(|&i| is_unreserved(bytes[i]) && !in_escape(bytes, i))
        .collect();
    let slashes: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i] == b'/' && i + 1 < bytes.len())
        .collect();

    // One unreserved character encoded, upper and lower case.
    for &i in &unreserved {
        for lower in [false, true] {
            let mut s = String::with_capacity(base.len() + 2);
            s.push_str(&base[..i]);
            push_escape(&mut s, bytes[i], lower);
            s.push_str(&base[i + 1..]);
            push(s, &mut out);
        }
    }
    // Two neighbouring unreserved characters encoded.
    for pair in unreserved.windows(2) {
        let (i, j) = (pair[0], pair[1]);
        if j == i + 1 {
            let mut s = String::with_capacity(base.len() + 4);
            s.push_str(&base[..i]);
            push_escape(&mut s, bytes[i], false);
            push_escape(&mut s, bytes[j], true);
            s.push_str(&base[j + 1..]);
            push(s, &mut out);
        }
    }
    // Every unreserved character encoded: upper, lower, alternating.
    let mut all_lower = String::new();
    for mode in 0..3 {
        let mut s = String::with_capacity(base.len() * 3);
        let mut n = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if unreserved.contains(&i) {
                push_escape(&mut s, b, mode == 1 || (mode == 2 && n % 2 == 1));
                n += 1;
            } else {
                s.push(char::from(b));
            }
        }
        if mode == 1 {
            all_lower = s.clone();
        }
        push(s, &mut out);
    }
    // Kept escapes in lower-case hex.
    if base.contains('%') {
        let mut s = String::with_capacity(base.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                s.push('%');
                s.push_str(&base[i + 1..i + 3].to_ascii_lowercase());
                i += 3;
            } else {
                s.push(char::from(bytes[i]));
                i += 1;
            }
        }
        push(s, &mut out);
    }
    // Insertions after each slash.
    const INSERTS: [&str; 19] = [
        "/",
        "//",
        "./",
        "%2e/",
        "%2E/",
        ".//",
        "./././",
        "x/../",
        "x/%2e%2e/",
        "x/.%2e/",
        "X/%2E./",
        "%78/.%2E/",
        "zz/./../",
        "a/b/../../",
        "x/y/z/../../../",
        "./x/../",
        "%7e/../",
        "-/%2E%2E/",
        "_//..//",
    ];
    for &i in &slashes {
        for ins in INSERTS {
            let mut s = String::with_capacity(base.len() + ins.len());
            s.push_str(&base[..=i]);
            s.push_str(ins);
            s.push_str(&base[i + 1..]);
            push(s, &mut out);
        }
    }
    // Combinations: every slash doubled with a `./` after it, and a leading
    // detour with every unreserved character encoded in lower case.
    if !base.ends_with('/') {
        push(base.replace('/', "//./"), &mut out);
    }
    push(format!("/x/..{all_lower}"), &mut out);
    push(format!("//%2E{all_lower}"), &mut out);
    out
}

// ---------------------------------------------------------------------------

/// Characters kept raw in a canonical path besides `/` and `%`.
fn is_plain(b: u8) -> bool {
    PLAIN[usize::from(b)]
}

/// [`is_plain`] as a table: unreserved characters and `!$&'()*+,=:@`.
const PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
            );
        b += 1;
    }
    table
};

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether byte `i` is one of the hex digits of an escape.
fn in_escape(bytes: &[u8], i: usize) -> bool {
    (i >= 1 && bytes[i - 1] == b'%') || (i >= 2 && bytes[i - 2] == b'%')
}

fn push_escape(s: &mut String, b: u8, lower: bool) {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let digits = if lower { LOWER } else { UPPER };
    s.push('%');
    s.push(char::from(digits[usize::from(b >> 4)]));
    s.push(char::from(digits[usize::from(b & 0x0f)]));
}

/// The common case: only plain characters and single slashes, no dot
/// segment. Such a path is its own canonical form. `raw` starts with `/`.
fn is_plainly_canonical(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut start = 1;
    for i in 1..=bytes.len() {
        match bytes.get(i) {
            Some(b'/') | None => {
                let seg = &bytes[start..i];
                if (seg.is_empty() && i < bytes.len()) || seg == b"." || seg == b".." {
                    return false;
                }
                start = i + 1;
            }
            Some(&b) if !is_plain(b) => return false,
            Some(_) => {}
        }
    }
    true
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The slow path: rebuilds the path segment by segment.
fn rebuild(raw: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len() + 8);
    let mut utf8 = Utf8::default();
    let mut trailing = false;
    let mut segments = raw[1..].split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if seg.is_empty() {
            trailing = last;
            continue;
        }
        let start = out.len();
        out.push('/');
        push_segment(seg, &mut out, &mut utf8)?;
        utf8.end()?;
        match &out[start + 1..] {
            "." => {
                out.truncate(start);
                trailing = last;
            }
            ".." => {
                out.truncate(start);
                let Some(parent) = out.rfind('/') else {
                    return Err(PathError::AboveRoot);
                };
                out.truncate(parent);
                trailing = last;
            }
            _ => trailing = false,
        }
    }
    if out.is_empty() || trailing {
        out.push('/');
    }
    if has_double_encoding(out.as_bytes()) {
        return Err(PathError::DoubleEncoding);
    }
    Ok(out)
}

/// Appends the canonical form of one segment (no `/` in it).
fn push_segment(seg: &str, out: &mut String, utf8: &mut Utf8) -> Result<(), PathError> {
    let bytes = seg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(PathError::BadPercentEncoding);
            };
            let decoded = (hi << 4) | lo;
            match decoded {
                b'/' | b'\\' => return Err(PathError::EncodedSlash),
                0x00..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                b';' => return Err(PathError::PathParameter),
                _ if is_unreserved(decoded) => out.push(char::from(decoded)),
                _ => push_escape(out, decoded, false),
            }
            utf8.feed(decoded)?;
            i += 3;
            continue;
        }
        match b {
            b'\\' => return Err(PathError::Backslash),
            0x00..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
            b';' => return Err(PathError::PathParameter),
            b'?' | b'#' => return Err(PathError::InvalidCharacter),
            _ if is_plain(b) => out.push(char::from(b)),
            _ => push_escape(out, b, false),
        }
        utf8.feed(b)?;
        i += 1;
    }
    Ok(())
}

/// `%25` followed by two hex digits anywhere in a canonical path.
fn has_double_encoding(out: &[u8]) -> bool {
    out.windows(5).any(|w| {
        w[0] == b'%'
            && w[1] == b'2'
            && w[2] == b'5'
            && hex_value(w[3]).is_some()
            && hex_value(w[4]).is_some()
    })
}

/// A byte-at-a-time UTF-8 validator (Unicode table 3-7: no overlong forms,
/// no surrogates, nothing above U+10FFFF).
#[derive(Debug, Default)]
struct Utf8 {
    /// Continuation bytes still expected.
    need: u8,
    /// The allowed range of the next continuation byte.
    lower: u8,
    upper: u8,
}

impl Utf8 {
    fn feed(&mut self, b: u8) -> Result<(), PathError> {
        if self.need > 0 {
            if b < self.lower || b > self.upper {
                return Err(PathError::NotUtf8);
            }
            self.need -= 1;
            self.lower = 0x80;
            self.upper = 0xbf;
            return Ok(());
        }
        let (need, lower, upper) = match b {
            0x00..=0x7f => return Ok(()),
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0 => (2, 0xa0, 0xbf),
            0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
            0xed => (2, 0x80, 0x9f),
            0xf0 => (3, 0x90, 0xbf),
            0xf1..=0xf3 => (3, 0x80, 0xbf),
            0xf4 => (3, 0x80, 0x8f),
            _ => return Err(PathError::NotUtf8),
        };
        self.need = need;
        self.lower = lower;
        self.upper = upper;
        Ok(())
    }

    /// A segment ended: no sequence may be left open.
    fn end(&self) -> Result<(), PathError> {
        if self.need > 0 {
            Err(PathError::NotUtf8)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
