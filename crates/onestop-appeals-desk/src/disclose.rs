//! Masking for the public feed (公开): what a disclosed appeal's title,
//! content and reply may show anybody. Pure functions, no I/O; the one
//! place the feed's masking lives.
//!
//! [`public_text`] masks, in free text (Chinese or not):
//!
//! - **digit runs of 7 digits or more** (ASCII or full-width digits, with
//!   single spaces or dashes between them, an ID number's final `X`
//!   included): an 18-character ID or a 15-digit old one as
//!   [`onestop_core::mask::resident_id`] masks it everywhere else
//!   (`110***********7777`), a mobile or a landline as
//!   [`onestop_core::mask::phone`] (`138****5678`, `010-****5678`), any
//!   other run (bank cards, account and local phone numbers) every digit
//!   `*`. One way of masking everywhere, so masked copies cannot be
//!   recombined;
//! - **e-mail addresses**: the part before `@` becomes `***`;
//! - **house numbers**: digits directly before or after `号 栋 幢 单元
//!   室 楼 弄` become `*` (`3号楼2单元501室` → `*号楼*单元***室`, `3栋501`
//!   → `*栋***`);
//! - **the appeal's own address** (its `location.address`), wherever it
//!   appears verbatim, becomes its district (`北京市东城区****`);
//! - **a name after a self-introduction** (`我叫`, `姓名`, `联系人`,
//!   `名字叫`, `名字是`, with an optional `:`/`：`): the 2–3 Chinese
//!   characters that follow, masked as [`onestop_core::mask::name`]
//!   (`张*`).
//!
//! [`district`] is all of a location a feed entry keeps: the address up to
//! its district or county (`北京市东城区`), or nothing when the address
//! names neither.

use onestop_core::mask;

/// Shortest digit run [`public_text`] masks.
const LONG_RUN: usize = 7;
/// Characters after which a short digit run is a house number.
const HOUSE_MARKS: [&str; 7] = ["号", "栋", "幢", "单元", "室", "楼", "弄"];
/// Words that introduce the writer's name.
const NAME_MARKS: [&str; 5] = ["我叫", "姓名", "联系人", "名字叫", "名字是"];

/// `text` as the public feed shows it (see the module documentation).
/// `address` is the appeal's own `location.address`, if any.
pub fn public_text(text: &str, address: Option<&str>) -> String {
    let mut s = text.to_owned();
    if let Some(a) = address.map(str::trim).filter(|a| a.chars().count() >= 4) {
        s = s.replace(a, &mask::address(a));
    }
    let s = digits(&s);
    let s = emails(&s);
    names(&s)
}

/// The district (or county, or city) of `address`, or `None` when the
/// address names none of them in its first 10 characters.
pub fn district(address: &str) -> Option<String> {
    let masked = mask::address(address);
    let kept = masked.strip_suffix("****")?;
    (kept.ends_with('区') || kept.ends_with('县')).then(|| kept.to_owned())
}

/// A full-width digit as its ASCII digit.
fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
        _ => None,
    }
}

/// Masks digit runs (IDs, phones, long numbers, house numbers).
fn digits(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if ascii_digit(chars[i]).is_none() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // The run: digits, single separators between digits, a final X.
        let mut j = i;
        let mut count = 0;
        while j < chars.len() {
            if ascii_digit(chars[j]).is_some() {
                count += 1;
                j += 1;
            } else if matches!(chars[j], ' ' | '-')
                && chars.get(j + 1).and_then(|c| ascii_digit(*c)).is_some()
            {
                j += 1;
            } else {
                break;
            }
        }
        if count == 17 && matches!(chars.get(j), Some('X' | 'x')) {
            count += 1;
            j += 1;
        }
        let run: String = chars[i..j].iter().collect();
        let rest: String = chars[j..chars.len().min(j + 2)].iter().collect();
        let before: String = chars[i.saturating_sub(2)..i].iter().collect();
        if count >= LONG_RUN {
            out.push_str(&long_run(&run, count));
        } else if HOUSE_MARKS.iter().any(|m| rest.starts_with(m))
            || HOUSE_MARKS.iter().any(|m| before.ends_with(m))
        {
            out.extend(
                run.chars()
                    .map(|c| if ascii_digit(c).is_some() { '*' } else { c }),
            );
        } else {
            out.push_str(&run);
        }
        i = j;
    }
    out
}

/// A run of `count` ≥ [`LONG_RUN`] digits, masked.
fn long_run(run: &str, count: usize) -> String {
    let ascii: String = run.chars().map(|c| ascii_digit(c).unwrap_or(c)).collect();
    let compact: String = ascii.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if count == 13
        && compact.starts_with("86")
        && let Some(rest) = ascii.strip_prefix("86")
    {
        let sep = &rest[..usize::from(rest.starts_with([' ', '-']))];
        return format!("86{sep}{}", long_run(&rest[sep.len()..], 11));
    }
    let masked = if count == 18 || (count == 15 && compact.len() == 15) {
        mask::resident_id(&compact)
    } else if (count == 11 && compact.starts_with('1')) || compact.starts_with('0') {
        mask::phone(&ascii)
    } else {
        String::new()
    };
    // Whatever a masker left unmasked that is not what it should keep (it
    // did not recognise the number): every digit hidden.
    let kept = masked.chars().filter(char::is_ascii_digit).count();
    if masked.is_empty() || kept > 7 || !masked.contains('*') {
        return ascii
            .chars()
            .map(|c| if c.is_ascii_digit() { '*' } else { c })
            .collect();
    }
    masked
}

/// Masks the local part of e-mail addresses.
fn emails(s: &str) -> String {
    let local = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-');
    let domain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-');
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut start = 0; // where the current run of local-part characters began
    while i < chars.len() {
        let c = chars[i];
        if c == '@'
            && start < i
            && chars.get(i + 1).is_some_and(|c| domain(*c))
            && chars[i + 1..]
                .iter()
                .take_while(|c| domain(**c))
                .any(|c| *c == '.')
        {
            // Drop the local part already written, then `***@`.
            for _ in start..i {
                out.pop();
            }
            out.push_str("***@");
            i += 1;
            start = i;
            continue;
        }
        out.push(c);
        i += 1;
        if !local(c) {
            start = i;
        }
    }
    out
}

/// Masks the name after a self-introduction.
fn names(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((at, mark)) = NAME_MARKS
        .iter()
        .filter_map(|m| rest.find(m).map(|at| (at, *m)))
        .min()
    {
        let after = at + mark.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let sep: usize = rest
            .chars()
            .take_while(|c| matches!(c, ':' | '：' | ' '))
            .map(char::len_utf8)
            .sum();
        out.push_str(&rest[..sep]);
        rest = &rest[sep..];
        let name: String = rest.chars().take_while(|c| is_han(*c)).take(3).collect();
        if name.chars().count() >= 2 {
            out.push_str(&mask::name(&name));
            rest = &rest[name.len()..];
        }
    }
    out.push_str(rest);
    out
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

#[cfg(test)]
mod tests;
