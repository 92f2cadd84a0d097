//! Magic bytes, hashes, type agreement and size limits.

#![allow(clippy::unwrap_used)]

use super::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF";
const PDF: &[u8] = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3";

fn limits() -> InputLimits {
    InputLimits::default()
}

#[test]
fn sniffs_by_magic_bytes_only() {
    assert_eq!(sniff(PNG), Some("image/png"));
    assert_eq!(sniff(JPEG), Some("image/jpeg"));
    assert_eq!(sniff(PDF), Some("application/pdf"));
    // A truncated signature, text, HTML, a GIF: none.
    assert_eq!(sniff(&PNG[..7]), None);
    assert_eq!(sniff(b"%PDF"), None);
    assert_eq!(sniff(b"<html><script>"), None);
    assert_eq!(sniff(b"GIF89a"), None);
    assert_eq!(sniff(b""), None);
}

#[test]
fn the_hash_names_the_content() {
    // SHA-256 of "abc" (FIPS 180-2 test vector).
    assert_eq!(
        content_hash(b"abc"),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(is_content_hash(&content_hash(PNG)));
    assert_ne!(content_hash(PNG), content_hash(PDF));
    let upper = content_hash(b"abc")
        .to_uppercase()
        .replace("SHA256", "sha256");
    for bad in ["sha256:", "sha256:abc", "md5:00", upper.as_str()] {
        assert!(!is_content_hash(bad), "{bad}");
    }
}

#[test]
fn the_type_is_the_contents_and_must_agree_with_the_header() {
    let ok = check_attachment(Some("image/png"), PNG, &limits()).unwrap();
    assert_eq!(ok.media_type, "image/png");
    assert_eq!(ok.hash, content_hash(PNG));
    // No header or octet-stream: the content decides.
    assert_eq!(
        check_attachment(None, PDF, &limits()).unwrap().media_type,
        "application/pdf"
    );
    assert_eq!(
        check_attachment(Some("application/octet-stream"), JPEG, &limits())
            .unwrap()
            .media_type,
        "image/jpeg"
    );
    // Parameters and case in the header are fine.
    assert!(check_attachment(Some("Image/PNG; q=1"), PNG, &limits()).is_ok());
    // A PDF declared as a PNG, HTML declared as a PNG: refused.
    let refused = |declared: Option<&str>, content: &[u8]| match check_attachment(
        declared,
        content,
        &limits(),
    ) {
        Err(AttachmentError::Type(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(refused(Some("image/png"), PDF).contains("content is application/pdf"));
    assert!(refused(Some("image/png"), b"<html>").contains("none of the recognised"));
    assert!(refused(Some("text/html"), PNG).contains("`text/html` is not taken"));
    // A recognised type the configuration does not allow.
    let only_png = InputLimits {
        attachment_types: vec!["image/png".into()],
        ..limits()
    };
    assert!(matches!(
        check_attachment(None, PDF, &only_png),
        Err(AttachmentError::Type(m)) if m.contains("not taken (one of image/png)")
    ));
}

#[test]
fn size_limits() {
    let small = InputLimits {
        max_attachment_bytes: 16,
        ..limits()
    };
    assert!(check_attachment(None, PNG, &small).is_ok());
    let mut big = PNG.to_vec();
    big.resize(17, 0);
    assert_eq!(
        check_attachment(None, &big, &small),
        Err(AttachmentError::TooLarge { size: 17, max: 16 })
    );
    assert_eq!(
        check_attachment(Some("image/png"), b"", &small),
        Err(AttachmentError::Empty)
    );
}
