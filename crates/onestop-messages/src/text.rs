//! The texts of messages, Chinese first then English, rendered from the
//! stored kind, title and department (the store keeps no text). Nothing of
//! an appeal's content appears, only its title, and runs of digits that
//! could be an ID or phone number in it are masked.

use onestop_store::MessageRecord;
use onestop_store::kind;
use serde_json::{Value, json};

/// Digits (and the ID number's `X`) in a run this long are masked.
const MASK_RUN: usize = 6;

/// `title` with every run of [`MASK_RUN`] or more digits replaced by `*`s
/// (an ID, phone or account number typed into a title).
pub fn mask(title: &str) -> String {
    let chars: Vec<char> = title.chars().collect();
    let mut out = String::with_capacity(title.len());
    let mut i = 0;
    while i < chars.len() {
        let digit = |c: char| c.is_ascii_digit();
        if digit(chars[i]) {
            let mut j = i;
            while j < chars.len() && (digit(chars[j]) || (j > i && matches!(chars[j], 'X' | 'x'))) {
                j += 1;
            }
            if j - i >= MASK_RUN {
                out.extend(std::iter::repeat_n('*', j - i));
            } else {
                out.extend(&chars[i..j]);
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// The message's text: Chinese, then English.
pub fn render(kind: &str, title: &str, dept: Option<&str>) -> String {
    let t = mask(title);
    let d = dept.unwrap_or("-");
    match kind {
        kind::APPEAL_DISPATCHED => {
            format!("您的诉求「{t}」已派至{d}办理。Your appeal \"{t}\" was dispatched to {d}.")
        }
        kind::APPEAL_ACCEPTED => {
            format!("您的诉求「{t}」已由{d}签收。Your appeal \"{t}\" was accepted by {d}.")
        }
        kind::APPEAL_REPLIED => {
            format!("您的诉求「{t}」{d}已答复，请查看。{d} replied to your appeal \"{t}\".")
        }
        kind::APPEAL_ESCALATED => format!(
            "您的诉求「{t}」已超时，已催办{d}。Your appeal \"{t}\" is overdue; {d} has been pressed to act."
        ),
        kind::APPEAL_SUPERVISED => format!(
            "您的诉求「{t}」仍未办结，已由12345督办{d}。Your appeal \"{t}\" is still overdue; the platform now supervises {d}."
        ),
        kind::RATING_INVITATION => {
            format!("请为「{t}」的办理评价（1-5星）。Please rate how \"{t}\" was handled (1-5).")
        }
        kind::CASE_PROGRESS => {
            format!("您的办件「{t}」有新进展（{d}）。Your case \"{t}\" progressed ({d}).")
        }
        kind::CASE_COMPLETED => {
            format!("您的办件「{t}」已办结。Your case \"{t}\" is complete.")
        }
        kind::CASE_FAILED => {
            format!("您的办件「{t}」未能办结。Your case \"{t}\" could not be completed.")
        }
        kind::CASE_OVERDUE => format!(
            "您的办件「{t}」在{d}的环节已超期，已提醒承办部门。A step of your case \"{t}\" at {d} is overdue; the department has been reminded."
        ),
        other => format!("「{t}」：{other}"),
    }
}

/// A message as citizens (the inbox) and receivers (the webhook body) see
/// it; the webhook adds the citizen and channel.
pub fn view(m: &MessageRecord) -> Value {
    json!({
        "event_id": m.id,
        "kind": m.kind,
        "subject": m.subject,
        "title": mask(&m.title),
        "dept": m.dept,
        "text": render(&m.kind, &m.title, m.dept.as_deref()),
        "at": m.at,
        "read": m.read_at.is_some(),
        "read_at": m.read_at,
    })
}

/// The webhook's body: the same bytes on every attempt.
pub fn webhook_body(m: &MessageRecord) -> Vec<u8> {
    let body = json!({
        "event_id": m.id,
        "kind": m.kind,
        "citizen": m.citizen,
        "channel": m.channel,
        "subject": m.subject,
        "title": mask(&m.title),
        "dept": m.dept,
        "text": render(&m.kind, &m.title, m.dept.as_deref()),
        "at": m.at,
    });
    body.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ids_and_phones_in_titles_are_masked() {
        assert_eq!(mask("噪音 13800138000 扰民"), "噪音 *********** 扰民");
        assert_eq!(mask("身份证44010619900101123X"), "身份证******************");
        assert_eq!(mask("3号楼 12345"), "3号楼 12345");
    }

    #[test]
    fn texts_are_chinese_first_and_name_no_content() {
        for k in [
            kind::APPEAL_DISPATCHED,
            kind::APPEAL_ACCEPTED,
            kind::APPEAL_REPLIED,
            kind::APPEAL_ESCALATED,
            kind::APPEAL_SUPERVISED,
            kind::RATING_INVITATION,
            kind::CASE_PROGRESS,
            kind::CASE_COMPLETED,
            kind::CASE_FAILED,
            kind::CASE_OVERDUE,
        ] {
            let t = render(k, "电话13800138000", Some("housing"));
            assert!(t.starts_with('您') || t.starts_with('请'), "{k}: {t}");
            assert!(!t.contains("13800138000"), "{k}: {t}");
            assert!(!t.is_ascii() && t.contains("电话"), "{k}: {t}");
        }
        assert!(render(kind::APPEAL_DISPATCHED, "x", Some("housing")).contains("housing"));
    }

    #[test]
    fn the_webhook_body_is_stable() {
        let m = MessageRecord {
            id: "A.0002".into(),
            citizen: "c1".into(),
            channel: Some("app".into()),
            kind: kind::APPEAL_ACCEPTED.into(),
            subject: "A".into(),
            title: "噪音".into(),
            dept: Some("housing".into()),
            at: 1,
            read_at: None,
        };
        assert_eq!(webhook_body(&m), webhook_body(&m.clone()));
        let v: Value = serde_json::from_slice(&webhook_body(&m)).unwrap_or_default();
        assert_eq!(v["event_id"], "A.0002");
        assert_eq!(v["citizen"], "c1");
    }
}
