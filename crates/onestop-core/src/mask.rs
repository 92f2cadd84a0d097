//! Masking of personal data: resident ID numbers, phone numbers, names,
//! bank cards and addresses, plus [`redact_text`], which finds resident IDs
//! and mainland mobile numbers in free text (log lines, JSON) and masks
//! them. Pure functions, no I/O.
//!
//! The rules, one per masker:
//!
//! - [`resident_id`]: 18 characters (17 digits and a digit or `X`/`x`) or
//!   15 digits: the first 3 and the last 4 kept, every other character `*`
//!   (`110101199003077777` → `110***********7777`). Anything else: every
//!   character but the last 4 is `*`; 4 characters or fewer: all `*`.
//! - [`phone`]: a mainland mobile (11 digits, `1` then `3`–`9`): the first 3
//!   and the last 4 digits kept, the 4 between `*` (`13812345678` →
//!   `138****5678`); a `+86`/`86` prefix and separators (space, `-`) are kept
//!   (`+86 138-1234-5678` → `+86 138-****-5678`). A landline (starts with
//!   `0`, 10–12 digits): the area code kept (the digits before the first
//!   separator, else `01x`/`02x` → 3 digits, others 4) and the last 4 digits
//!   of the rest (the last 2 when the rest is shorter than 7), the digits
//!   between `*` (`010-12345678` → `010-****5678`). Anything else: as an
//!   unrecognised resident ID (all but the last 4 `*`).
//! - [`name`]: starting with a non-ASCII character (Chinese): the first
//!   character kept, every other one `*` except the separators `·` and
//!   spaces (`张三` → `张*`, `欧阳娜娜` → `欧***`; one character → `*`).
//!   Otherwise (Latin): the first character of each space-separated word
//!   kept, the rest `*` (`John Smith` → `J*** S****`).
//! - [`bank_card`]: 12–19 digits, spaces and dashes allowed between them:
//!   the first 6 and last 4 digits kept, the digits between `*`, separators
//!   dropped (`6222 0212 3456 7890 123` → `622202*********0123`). Anything
//!   else: all but the last 4 `*`.
//! - [`address`]: the beginning up to and including the first `区` or `县`
//!   that is at least the 3rd character, else the first such `市`, looking
//!   at the first 10 characters only, then a fixed `****` that does not
//!   reveal the length (`北京市东城区东华门街道1号` → `北京市东城区****`);
//!   nothing kept when there is no such character.
//! - [`Kind::Full`]: a fixed `****`.
//!
//! [`redact_text`] masks, in free text:
//!
//! - a resident ID: 17 ASCII digits and a digit, `X` or `x`, with the GB
//!   11643 check character, not preceded or followed by an ASCII letter or
//!   digit (so not part of a longer digit run);
//! - a mainland mobile number: 11 digits `1[3-9]\d{9}`, not preceded or
//!   followed by an ASCII letter or digit; `86` directly before it is part
//!   of the match (`+8613812345678` → `+86138****5678`);
//! - neither when it is the fraction or the integer part of a decimal
//!   number (`1.13812345678`, `13812345678.5`): a log line's `duration_ms`
//!   stays a valid JSON number.
//!
//! 15-digit IDs and landlines are not searched for in free text (too many
//! other numbers look like them). A masked form has the same length as what
//! it replaces and is never matched again, so redaction is idempotent.

use std::borrow::Cow;

/// GB 11643-1999 weights of the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// The check character for each value of the weighted sum mod 11.
const CHECK_CHARS: &[u8; 11] = b"10X98765432";
/// What [`address`] and [`Kind::Full`] put in place of what they hide.
const FIXED: &str = "****";

/// A masking a configuration can name per field (`resident_id`, `phone`,
/// `name`, `bank_card`, `address`, `full`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    ResidentId,
    Phone,
    Name,
    BankCard,
    Address,
    /// Everything hidden behind a fixed `****`.
    Full,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::ResidentId,
        Kind::Phone,
        Kind::Name,
        Kind::BankCard,
        Kind::Address,
        Kind::Full,
    ];

    /// The kind named `name` in snake_case, e.g. `bank_card`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The snake_case name [`Kind::parse`] accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ResidentId => "resident_id",
            Kind::Phone => "phone",
            Kind::Name => "name",
            Kind::BankCard => "bank_card",
            Kind::Address => "address",
            Kind::Full => "full",
        }
    }
}

/// Masks `s` as `kind` says.
pub fn apply(kind: Kind, s: &str) -> String {
    match kind {
        Kind::ResidentId => resident_id(s),
        Kind::Phone => phone(s),
        Kind::Name => name(s),
        Kind::BankCard => bank_card(s),
        Kind::Address => address(s),
        Kind::Full => FIXED.to_string(),
    }
}

/// A resident ID number: the first 3 and last 4 characters kept.
pub fn resident_id(s: &str) -> String {
    let b = s.as_bytes();
    let id18 = b.len() == 18
        && b[..17].iter().all(u8::is_ascii_digit)
        && matches!(b[17], b'0'..=b'9' | b'X' | b'x');
    let id15 = b.len() == 15 && b.iter().all(u8::is_ascii_digit);
    if id18 || id15 {
        keep_ends(s, 3, 4)
    } else {
        all_but_last(s, 4)
    }
}

/// A phone number: see the module documentation for the rules.
pub fn phone(s: &str) -> String {
    let (prefix, rest) = country_prefix(s);
    if let Some(masked) = mobile(rest) {
        return format!("{prefix}{masked}");
    }
    if prefix.is_empty()
        && let Some(masked) = landline(s)
    {
        return masked;
    }
    all_but_last(s, 4)
}

/// A person's name: the first character (Chinese) or the first letter of
/// each word (Latin) kept.
pub fn name(s: &str) -> String {
    let s = s.trim();
    let mut out = String::with_capacity(s.len());
    let latin = s.chars().next().is_some_and(|c| c.is_ascii());
    if latin {
        let mut word_start = true;
        for c in s.chars() {
            if c.is_whitespace() {
                out.push(c);
                word_start = true;
            } else if word_start {
                out.push(c);
                word_start = false;
            } else {
                out.push('*');
            }
        }
    } else {
        let count = s.chars().count();
        for (i, c) in s.chars().enumerate() {
            if (i == 0 && count > 1) || (i > 0 && matches!(c, '·' | '•' | ' ')) {
                out.push(c);
            } else {
                out.push('*');
            }
        }
    }
    out
}

/// A bank card number: the first 6 and last 4 digits kept, separators dropped.
pub fn bank_card(s: &str) -> String {
    let well_formed = s
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b' ' || c == b'-');
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    if !well_formed || !(12..=19).contains(&digits.len()) {
        return all_but_last(s, 4);
    }
    let n = digits.len();
    let mut out = String::with_capacity(n);
    for (i, d) in digits.into_iter().enumerate() {
        out.push(if i < 6 || i >= n - 4 {
            char::from(d)
        } else {
            '*'
        });
    }
    out
}

/// An address: kept up to the district or county, then a fixed `****`.
pub fn address(s: &str) -> String {
    let s = s.trim();
    let head: Vec<(usize, char)> = s.char_indices().take(10).collect();
    let end_of = |wanted: &[char]| {
        head.iter()
            .skip(2)
            .find(|(_, c)| wanted.contains(c))
            .map(|(at, c)| at + c.len_utf8())
    };
    let keep = end_of(&['区', '县'])
        .or_else(|| end_of(&['市']))
        .unwrap_or(0);
    format!("{}{FIXED}", &s[..keep])
}

/// Whether `s` is an 18-character resident ID number whose last character
/// is the GB 11643 check character of the first 17 digits (`X` for 10; a
/// lower-case `x` is accepted as people type it). Dates are not checked.
pub fn is_resident_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 18 && check_char(&b[..17]).is_some_and(|c| c == b[17].to_ascii_uppercase())
}

/// `s` with every resident ID and mainland mobile number masked (see the
/// module documentation); borrowed when there is nothing to mask. One pass,
/// linear in the length of `s`.
pub fn redact_text(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let Some(first) = next_match(b, 0) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut next = Some(first);
    while let Some(m) = next {
        let (head, tail) = m.kept();
        out.push_str(&s[last..m.start + head]);
        out.extend(std::iter::repeat_n('*', m.end - tail - m.start - head));
        out.push_str(&s[m.end - tail..m.end]);
        last = m.end;
        next = next_match(b, last);
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

/// Masks, in place, what [`redact_text`] would; returns how many matches
/// were masked. For byte buffers (a log writer's): every masked form has
/// the length of what it replaces and only ASCII digits become `*`, so
/// UTF-8 text stays UTF-8.
pub fn redact_in_place(buf: &mut [u8]) -> usize {
    let mut count = 0;
    let mut from = 0;
    while let Some(m) = next_match(buf, from) {
        let (head, tail) = m.kept();
        buf[m.start + head..m.end - tail].fill(b'*');
        count += 1;
        from = m.end;
    }
    count
}

/// The resident IDs and mobile numbers [`redact_text`] would mask: byte
/// offset and the unmasked text (with its `86` prefix, if any).
pub fn find_unmasked(s: &str) -> Vec<(usize, &str)> {
    let b = s.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(m) = next_match(b, from) {
        found.push((m.start, &s[m.start..m.end]));
        from = m.end;
    }
    found
}

/// One resident ID or mobile number found in text, `start..end` in bytes
/// (all ASCII).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Match {
    start: usize,
    end: usize,
    what: Found,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    ResidentId,
    /// A mobile number; `prefixed`: with `86` before it.
    Mobile {
        prefixed: bool,
    },
}

impl Match {
    /// How many bytes at the start and at the end stay as they are.
    fn kept(self) -> (usize, usize) {
        match self.what {
            Found::ResidentId => (3, 4),
            Found::Mobile { prefixed: false } => (3, 4),
            Found::Mobile { prefixed: true } => (5, 4),
        }
    }
}

/// The first match at or after `from`, which must not be inside a digit run.
fn next_match(b: &[u8], from: usize) -> Option<Match> {
    let n = b.len();
    let mut i = from;
    while i < n {
        let start = i + b[i..].iter().position(u8::is_ascii_digit)?;
        let mut end = start;
        while end < n && b[end].is_ascii_digit() {
            end += 1;
        }
        i = end;
        let after_alnum = start > 0 && b[start - 1].is_ascii_alphanumeric();
        let after_point = start > 1 && b[start - 1] == b'.' && b[start - 2].is_ascii_digit();
        if after_alnum || after_point {
            continue;
        }
        let run = &b[start..end];
        if run.len() == 17
            && end < n
            && matches!(b[end], b'X' | b'x')
            && boundary_at(b, end + 1)
            && check_char(run) == Some(b'X')
        {
            return Some(Match {
                start,
                end: end + 1,
                what: Found::ResidentId,
            });
        }
        if !boundary_at(b, end) {
            continue;
        }
        let what = match run.len() {
            18 if check_char(&run[..17]) == Some(run[17]) => Found::ResidentId,
            11 if is_mobile(run) => Found::Mobile { prefixed: false },
            13 if run.starts_with(b"86") && is_mobile(&run[2..]) => {
                Found::Mobile { prefixed: true }
            }
            _ => continue,
        };
        return Some(Match { start, end, what });
    }
    None
}

/// Nothing at `at` continues a match ending there: the end of the text, or
/// neither an ASCII letter or digit nor the point of a decimal fraction.
fn boundary_at(b: &[u8], at: usize) -> bool {
    match b.get(at) {
        None => true,
        Some(c) if c.is_ascii_alphanumeric() => false,
        Some(b'.') => !b.get(at + 1).is_some_and(u8::is_ascii_digit),
        Some(_) => true,
    }
}

/// 11 digits, `1` then `3`–`9`.
fn is_mobile(run: &[u8]) -> bool {
    run.len() == 11 && run[0] == b'1' && (b'3'..=b'9').contains(&run[1])
}

/// The check character of 17 ASCII digits, `None` unless that is what they are.
fn check_char(first17: &[u8]) -> Option<u8> {
    if first17.len() != 17 {
        return None;
    }
    let mut sum = 0u32;
    for (&c, w) in first17.iter().zip(WEIGHTS) {
        if !c.is_ascii_digit() {
            return None;
        }
        sum += u32::from(c - b'0') * w;
    }
    CHECK_CHARS.get((sum % 11) as usize).copied()
}

/// `+86`, `+86 `, `+86-` or `86` (only when a mobile number follows) and the rest.
fn country_prefix(s: &str) -> (&str, &str) {
    if let Some(rest) = s.strip_prefix("+86") {
        let sep = usize::from(rest.starts_with([' ', '-']));
        return s.split_at(3 + sep);
    }
    if let Some(rest) = s.strip_prefix("86")
        && mobile(rest).is_some()
    {
        return s.split_at(2);
    }
    ("", s)
}

/// A mobile number, maybe with spaces or dashes between its digits,
/// masked: the 4th to 7th digits `*`.
fn mobile(s: &str) -> Option<String> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    let well_formed = s
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b' ' || c == b'-')
        && s.starts_with(|c: char| c.is_ascii_digit())
        && s.ends_with(|c: char| c.is_ascii_digit());
    if !well_formed || !is_mobile(&digits) {
        return None;
    }
    Some(mask_digits(s, |i| (3..7).contains(&i)))
}

/// A landline number starting with its area code `0…` (maybe in
/// parentheses), masked: see the module documentation.
fn landline(s: &str) -> Option<String> {
    let well_formed = s
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b' ' | b'-' | b'(' | b')'));
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    if !well_formed || digits.first() != Some(&b'0') || !(10..=12).contains(&digits.len()) {
        return None;
    }
    // The area code: the first group of digits when a separator ends it.
    let body = s.trim_start_matches('(');
    let group = body.bytes().take_while(u8::is_ascii_digit).count();
    let area = if group < digits.len() && (3..=4).contains(&group) {
        group
    } else if matches!(digits.get(1), Some(b'1' | b'2')) {
        3
    } else {
        4
    };
    let rest = digits.len() - area;
    let tail = if rest >= 7 { 4 } else { 2 };
    let n = digits.len();
    Some(mask_digits(s, |i| i >= area && i < n - tail))
}

/// `s` with its `i`-th ASCII digit replaced by `*` wherever `hide(i)`.
fn mask_digits(s: &str, hide: impl Fn(usize) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    for c in s.chars() {
        if c.is_ascii_digit() {
            out.push(if hide(i) { '*' } else { c });
            i += 1;
        } else {
            out.push(c);
        }
    }
    out
}

/// The first `head` and last `tail` characters kept, the others `*`.
fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let n = s.chars().count();
    s.chars()
        .enumerate()
        .map(|(i, c)| if i < head || i + tail >= n { c } else { '*' })
        .collect()
}

/// Every character but the last `tail` is `*`; all of them when there are
/// no more than `tail`.
fn all_but_last(s: &str, tail: usize) -> String {
    let n = s.chars().count();
    if n <= tail {
        return "*".repeat(n);
    }
    keep_ends(s, 0, tail)
}

#[cfg(test)]
mod tests;
