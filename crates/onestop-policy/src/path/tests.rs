#![allow(clippy::unwrap_used)]

use super::*;
use PathError::*;

/// Every rule, alone and combined: input → canonical path or refusal.
const CASES: &[(&str, Result<&str, PathError>)] = &[
    // Already canonical (borrowed).
    ("/", Ok("/")),
    ("/api/v1/catalog", Ok("/api/v1/catalog")),
    (
        "/api/v1/depts/hpf/accounts/me",
        Ok("/api/v1/depts/hpf/accounts/me"),
    ),
    ("/api/v1/depts/hpf/", Ok("/api/v1/depts/hpf/")),
    ("/a.b/c..d/...", Ok("/a.b/c..d/...")),
    ("/.well-known/x", Ok("/.well-known/x")),
    ("/a~b_c-d", Ok("/a~b_c-d")),
    ("/a!$&'()*+,=:@b", Ok("/a!$&'()*+,=:@b")),
    (
        "/citizens/11010519491231002X",
        Ok("/citizens/11010519491231002X"),
    ),
    ("/package.Service/Method", Ok("/package.Service/Method")),
    // Repeated slashes.
    ("//", Ok("/")),
    ("///", Ok("/")),
    ("//a///b", Ok("/a/b")),
    ("/api//v1", Ok("/api/v1")),
    ("/api/v1//", Ok("/api/v1/")),
    ("//api/v1/catalog", Ok("/api/v1/catalog")),
    ("/a/////////b/", Ok("/a/b/")),
    // Dot segments.
    ("/.", Ok("/")),
    ("/./", Ok("/")),
    ("/api/v1/./depts", Ok("/api/v1/depts")),
    ("/api/v1/depts/a/../b", Ok("/api/v1/depts/b")),
    ("/api/v1/depts/hpf/../water", Ok("/api/v1/depts/water")),
    ("/a/b/c/./../../g", Ok("/a/g")),
    ("/a/b/.", Ok("/a/b/")),
    ("/a/b/..", Ok("/a/")),
    ("/a/..", Ok("/")),
    ("/a/../", Ok("/")),
    ("/a/./b/./", Ok("/a/b/")),
    ("/a/b/../../c", Ok("/c")),
    ("/a//../b", Ok("/b")),
    ("/a/.//b", Ok("/a/b")),
    ("/./././a", Ok("/a")),
    ("/a/b/../c/./d/..", Ok("/a/c/")),
    ("/..", Err(AboveRoot)),
    ("/../a", Err(AboveRoot)),
    ("/a/../..", Err(AboveRoot)),
    ("/a/../../b", Err(AboveRoot)),
    ("/api/../../etc/passwd", Err(AboveRoot)),
    ("//..//a", Err(AboveRoot)),
    // Encoded dot segments.
    ("/api/v1/depts/hpf/%2e%2e/water", Ok("/api/v1/depts/water")),
    ("/api/v1/depts/hpf/%2E%2E/water", Ok("/api/v1/depts/water")),
    ("/api/v1/depts/hpf/.%2e/water", Ok("/api/v1/depts/water")),
    ("/api/v1/depts/hpf/%2e./water", Ok("/api/v1/depts/water")),
    ("/api/%2e/v1", Ok("/api/v1")),
    ("/%2e%2e", Err(AboveRoot)),
    ("/%2E%2e/%2e%2E/x", Err(AboveRoot)),
    ("/a/%2e%2e%2e", Ok("/a/...")),
    // Percent-encoded unreserved characters are decoded.
    ("/%61%70%69/v1", Ok("/api/v1")),
    ("/api/%76%31", Ok("/api/v1")),
    ("/api/%7E%5f%2D", Ok("/api/~_-")),
    (
        "/citizens/11010519491231002%58",
        Ok("/citizens/11010519491231002X"),
    ),
    (
        "/citizens/11010519491231002%78",
        Ok("/citizens/11010519491231002x"),
    ),
    ("/%41%5a%30%39", Ok("/AZ09")),
    // Other escapes kept, hex upper-cased.
    ("/a%20b", Ok("/a%20b")),
    ("/a%3fb", Ok("/a%3Fb")),
    ("/a%23b", Ok("/a%23b")),
    ("/a%40b%21", Ok("/a%40b%21")),
    ("/%c3%a9", Ok("/%C3%A9")),
    ("/%C3%a9t%C3%A9", Ok("/%C3%A9t%C3%A9")),
    ("/a%25", Ok("/a%25")),
    ("/a%25zz", Ok("/a%25zz")),
    ("/a%25/41", Ok("/a%25/41")),
    ("/%2A", Ok("/%2A")),
    // UTF-8.
    ("/api/v1/%E4%B8%AD", Ok("/api/v1/%E4%B8%AD")),
    (
        "/api/v1/%e4%b8%ad%e6%96%87",
        Ok("/api/v1/%E4%B8%AD%E6%96%87"),
    ),
    ("/api/v1/中", Ok("/api/v1/%E4%B8%AD")),
    ("/api/v1/中文/é", Ok("/api/v1/%E4%B8%AD%E6%96%87/%C3%A9")),
    ("/%F0%9F%98%80", Ok("/%F0%9F%98%80")),
    ("/😀", Ok("/%F0%9F%98%80")),
    ("/%EF%BC%8E%EF%BC%8E", Ok("/%EF%BC%8E%EF%BC%8E")),
    ("/%C0%AF", Err(NotUtf8)),
    ("/%C0%AE%C0%AE/x", Err(NotUtf8)),
    ("/%E0%80%AF", Err(NotUtf8)),
    ("/%ED%A0%80", Err(NotUtf8)),
    ("/%F4%90%80%80", Err(NotUtf8)),
    ("/%FF", Err(NotUtf8)),
    ("/%80", Err(NotUtf8)),
    ("/%E4%B8", Err(NotUtf8)),
    ("/%E4%B8/%AD", Err(NotUtf8)),
    ("/%E4中", Err(NotUtf8)),
    ("/%C3", Err(NotUtf8)),
    // Raw characters that get encoded.
    ("/a b", Ok("/a%20b")),
    ("/a\"b<c>", Ok("/a%22b%3Cc%3E")),
    ("/{x}|[y]^`", Ok("/%7Bx%7D%7C%5By%5D%5E%60")),
    // Bad percent encoding.
    ("/%", Err(BadPercentEncoding)),
    ("/%2", Err(BadPercentEncoding)),
    ("/a%g0", Err(BadPercentEncoding)),
    ("/a%0g", Err(BadPercentEncoding)),
    ("/%%41", Err(BadPercentEncoding)),
    ("/%u002e%u002e/", Err(BadPercentEncoding)),
    ("/a%/b", Err(BadPercentEncoding)),
    ("/%2/F", Err(BadPercentEncoding)),
    // Encoded slashes and backslashes.
    ("/a%2Fb", Err(EncodedSlash)),
    ("/a%2fb", Err(EncodedSlash)),
    ("/%2e%2e%2f", Err(EncodedSlash)),
    ("/api/v1/depts/hpf/..%2F..%2Fwater", Err(EncodedSlash)),
    ("/a%5Cb", Err(EncodedSlash)),
    ("/a%5cb", Err(EncodedSlash)),
    // Double encoding.
    ("/a%252Fb", Err(DoubleEncoding)),
    ("/a%252fb", Err(DoubleEncoding)),
    ("/%252e%252e/x", Err(DoubleEncoding)),
    ("/a%2541", Err(DoubleEncoding)),
    ("/a%25%32%46", Err(DoubleEncoding)),
    ("/a%25%34%31", Err(DoubleEncoding)),
    ("/a%25c3", Err(DoubleEncoding)),
    // Control characters, raw and encoded.
    ("/a%00", Err(ControlCharacter)),
    ("/a%0A", Err(ControlCharacter)),
    ("/a%0d%0aSet-Cookie:x", Err(ControlCharacter)),
    ("/a%1F", Err(ControlCharacter)),
    ("/a%7f", Err(ControlCharacter)),
    ("/a\0", Err(ControlCharacter)),
    ("/a\tb", Err(ControlCharacter)),
    ("/a\u{7f}", Err(ControlCharacter)),
    // Backslashes.
    ("/a\\b", Err(Backslash)),
    ("/\\..\\etc", Err(Backslash)),
    ("/api/v1/depts/hpf/..\\water", Err(Backslash)),
    // Path parameters.
    ("/a;b", Err(PathParameter)),
    ("/api/v1/depts/hpf/..;/water", Err(PathParameter)),
    ("/api;jsessionid=1/v1", Err(PathParameter)),
    ("/a/..%3B/b", Err(PathParameter)),
    ("/a%3bb", Err(PathParameter)),
    (";", Err(NotAbsolute)),
    // Characters that cannot be in a path.
    ("/a?b", Err(InvalidCharacter)),
    ("/a#b", Err(InvalidCharacter)),
    // Not absolute.
    ("", Err(NotAbsolute)),
    ("a/b", Err(NotAbsolute)),
    ("*", Err(NotAbsolute)),
    ("http://example.com/a", Err(NotAbsolute)),
    ("%2Fa", Err(NotAbsolute)),
    ("\\a", Err(NotAbsolute)),
    // Combinations.
    (
        "//api/./v1//depts/%68%70%66/../water/",
        Ok("/api/v1/depts/water/"),
    ),
    ("/api/v1/depts/hpf/%2e%2e/%2e%2e/%2e%2e/%2e%2e/x", Ok("/x")),
    (
        "/api/v1/depts/hpf/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e",
        Err(AboveRoot),
    ),
    ("/a/%2E/%2e%2E/b%20c/%c3%a9/", Ok("/b%20c/%C3%A9/")),
    ("/a/b/%2e%2e/%2e/c", Ok("/a/c")),
    ("/api/v1/me/../../v1/me/overview", Ok("/api/v1/me/overview")),
    ("/x%2e%2e/y", Ok("/x../y")),
    ("/a/..%2e/b", Ok("/a/.../b")),
    ("/%2e%2e;/x", Err(PathParameter)),
    ("/a\\%2e%2e", Err(Backslash)),
];

#[test]
fn table() {
    assert!(CASES.len() >= 100, "only {} cases", CASES.len());
    let mut failures = Vec::new();
    for (input, want) in CASES {
        let got = normalize(input).map(|n| n.into_string());
        let want = want.map(str::to_string);
        if got != want {
            failures.push(format!("{input:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_kind_is_in_the_table() {
    for kind in PathError::ALL {
        if kind == TooLong {
            continue; // `too_long` below
        }
        assert!(
            CASES.iter().any(|(_, r)| *r == Err(kind)),
            "no case for {kind:?}"
        );
    }
}

#[test]
fn accepted_outputs_are_fixed_points() {
    for (input, want) in CASES {
        if let Ok(want) = want {
            let again = normalize(want).unwrap();
            assert_eq!(again.as_str(), *want, "normalize({input:?}) is not stable");
            assert!(again.is_unchanged(), "{want:?} came back rebuilt");
        }
    }
}

#[test]
fn canonical_input_is_borrowed() {
    assert!(normalize("/api/v1/catalog").unwrap().is_unchanged());
    assert!(normalize("/api/v1/%E4%B8%AD").unwrap().is_unchanged());
    assert!(!normalize("/api/v1/%e4%b8%ad").unwrap().is_unchanged());
    assert!(!normalize("//api").unwrap().is_unchanged());
}

#[test]
fn too_long() {
    let at_limit = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
    assert_eq!(normalize(&at_limit).unwrap().as_str(), at_limit);
    let over = format!("/{}", "a".repeat(MAX_PATH_LEN));
    assert_eq!(normalize(&over), Err(TooLong));
    // Short enough as sent, too long once its non-ASCII bytes are encoded.
    let grows = format!("/{}", "中".repeat(1000));
    assert!(grows.len() <= MAX_PATH_LEN);
    assert_eq!(normalize(&grows), Err(TooLong));
    // Long as sent, short once the detours are resolved.
    let detours = format!("{}/a", "/x/..".repeat(1000));
    assert_eq!(normalize(&detours).unwrap().as_str(), "/a");
}

#[test]
fn messages_and_codes() {
    assert_eq!(
        EncodedSlash.to_string(),
        "the request path has an encoded slash or backslash (`%2F`, `%5C`)"
    );
    assert_eq!(
        AboveRoot.message(),
        "the request path climbs above the root with `..`"
    );
    let codes: std::collections::HashSet<_> = PathError::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), PathError::ALL.len());
    for e in PathError::ALL {
        assert!(!e.message().contains('\n'));
    }
}

#[test]
fn variants_of_a_citizen_path() {
    let canonical = "/api/v1/me/overview";
    let spellings = variants(canonical);
    assert_eq!(spellings[0], canonical);
    assert_eq!(spellings.len(), 110, "the count in the docs of `variants`");
    let unique: std::collections::HashSet<_> = spellings.iter().collect();
    assert_eq!(unique.len(), spellings.len(), "duplicates");
    for s in &spellings {
        assert_eq!(normalize(s).unwrap().as_str(), canonical, "{s:?}");
    }
    assert!(spellings.contains(&"/api/v1/%6de/overview".to_string()));
    assert!(spellings.contains(&"/api/%2e/v1/me/overview".to_string()));
    assert!(spellings.contains(&"/api/v1/x/%2e%2e/me/overview".to_string()));
    assert!(spellings.contains(&"/api//v1/me/overview".to_string()));
}

#[test]
fn variants_of_other_paths() {
    for canonical in [
        "/",
        "/a",
        "/api/v1/depts/hpf/accounts/11010519491231002X",
        "/api/v1/%E4%B8%AD/",
        "/hpf.v1.Accounts/Get",
    ] {
        let spellings = variants(canonical);
        assert!(!spellings.is_empty());
        for s in &spellings {
            assert_eq!(normalize(s).unwrap().as_str(), canonical, "{s:?}");
        }
    }
    assert!(variants("/api/v1/depts/hpf/accounts/11010519491231002X").len() >= 100);
    assert!(variants("/api/v1/%E4%B8%AD/").contains(&"/api/v1/%e4%b8%ad/".to_string()));
    assert!(variants("/..").is_empty());
    // Not canonical: the spellings are of its canonical form.
    assert_eq!(variants("//a")[0], "/a");
}

/// A small deterministic generator (xorshift) for the property test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces that exercise every rule when glued together at random.
const PIECES: &[&str] = &[
    "/",
    "/",
    "/",
    "//",
    ".",
    "..",
    "./",
    "../",
    "a",
    "b",
    "api",
    "v1",
    "me",
    "~",
    "-",
    "_",
    "%2e",
    "%2E",
    "%2f",
    "%5c",
    "%25",
    "%32",
    "%46",
    "%41",
    "%61",
    "%7e",
    "%20",
    "%3b",
    ";",
    "\\",
    "%00",
    "%c3",
    "%a9",
    "%C3%A9",
    "中",
    "é",
    "%E4%B8%AD",
    "%e4",
    "%b8",
    "%",
    "%g",
    "?",
    "#",
    " ",
    "\"",
    "@",
    ":",
    "!",
    "%3F",
    "%C0%AF",
    "%F0%9F%98%80",
    "x",
    "X",
    "%58",
    "%2e%2e",
    "%252F",
    "\t",
];

#[test]
fn property_outputs_are_canonical() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    let mut refused = std::collections::HashMap::new();
    for _ in 0..100_000 {
        let mut s = String::from("/");
        for _ in 0..rng.below(12) {
            s.push_str(PIECES[rng.below(PIECES.len())]);
        }
        match crate::fuzzing::check_normalize(&s) {
            Ok(_) => accepted += 1,
            Err(e) => *refused.entry(e).or_insert(0) += 1,
        }
    }
    // Both outcomes are exercised, and most refusal kinds.
    assert!(accepted > 10_000, "accepted {accepted}");
    assert!(refused.len() >= 9, "refusals: {refused:?}");
}
