//! Attachments of appeals across processes: a citizen uploads a PNG on
//! the public listener and files an appeal naming it; the department reads
//! the photo over gRPC on the control listener and replies with a PDF; the
//! citizen downloads the reply's PDF byte for byte (stored type,
//! `content-disposition: attachment`, `nosniff`), an operator through the
//! admin API too; another citizen gets 404 like a missing appeal. Uploads
//! over `max_attachment_bytes` are 413 before the body is sent when
//! `Content-Length` says so; a PDF declared as a PNG is 415; the same
//! content uploaded twice is one attachment.

use std::time::Duration;

use onestop_tests::Sim;
use onestop_tests::appeals::{Dept, get, post};
use onestop_tests::registry::{http_depts, issue_token};
use onestop_tests::secure::Secure;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tiny but real PNG (1×1, the signature and IHDR).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\x01\x01\x01\0\x18\xdd\x8d\xb0\0\0\0\0IEND\xaeB`\x82";
/// A minimal PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";
const LIMIT: usize = 4096;

fn id_of(content: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(content)))
}

async fn upload(client: &reqwest::Client, url: &str, ct: &str, body: &[u8]) -> (u16, Value) {
    let r = client
        .post(url)
        .header("content-type", ct)
        .body(body.to_vec())
        .send()
        .await
        .expect("public listener");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_photo_goes_to_the_department_and_its_pdf_reply_back_to_the_citizen_only() {
    let secure = Secure::new();
    let sim = Sim::start_signed(2, 20, Some(&secure.signing_key_hex)).await;
    let water = http_depts(&sim)[0].id.clone();
    let mut extra = secure.gateway_toml(&[]);
    extra.push_str(&format!(
        r#"
[appeals]
max_attachment_bytes = {LIMIT}

[[appeals.rules]]
dept = "{water}"
keywords = ["井盖"]
"#
    ));
    let gw = secure.citizens_gateway(&sim.manifest, extra).await;
    let me = secure.client(Some("citizen-1"));
    let stranger = secure.client(Some("citizen-2"));
    let uploads = gw.url("/api/v1/me/appeals/attachments");

    // Upload the photo; again (also by another citizen): the same id.
    let (status, photo) = upload(&me, &uploads, "image/png", PNG).await;
    assert_eq!(status, 201, "{photo}");
    let png_id = id_of(PNG);
    assert_eq!(
        photo,
        json!({"id": png_id, "size": PNG.len(), "type": "image/png"})
    );
    let (status, again) = upload(&stranger, &uploads, "image/png", PNG).await;
    assert_eq!((status, &again["id"]), (200, &photo["id"]), "{again}");

    // A PDF declared as a PNG: 415 naming the header. HTML: 415.
    for (ct, body) in [
        ("image/png", PDF),
        ("image/png", b"<html>x</html>".as_slice()),
    ] {
        let (status, e) = upload(&me, &uploads, ct, body).await;
        assert_eq!(
            (status, e["error"]["field"].as_str()),
            (415, Some("Content-Type")),
            "{e}"
        );
    }
    // Over the limit, sent: 413.
    let mut big = PNG.to_vec();
    big.resize(LIMIT + 1, 0);
    let (status, e) = upload(&me, &uploads, "image/png", &big).await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (413, Some("BODY_TOO_LARGE")),
        "{e}"
    );
    // Over the limit by Content-Length, nothing sent: 413 at once.
    let mut conn = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let head = format!(
        "POST /api/v1/me/appeals/attachments HTTP/1.1\r\nhost: localhost\r\n\
         x-onestop-app-key: {}\r\nauthorization: Bearer {}\r\ncontent-type: image/png\r\n\
         content-length: 10000000\r\n\r\n",
        secure.app_key(),
        secure.token("citizen-1")
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    // File the appeal with the photo (an id never uploaded: 400 naming it).
    let appeals = gw.url("/api/v1/me/appeals");
    let unknown = id_of(b"never uploaded");
    let (status, e) = post(
        &me,
        &appeals,
        None,
        json!({"kind": "report", "title": "井盖丢失", "content": "路口井盖丢了", "attachments": [unknown]}),
    )
    .await;
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("attachments[0]")),
        "{e}"
    );
    let (status, appeal) = post(
        &me,
        &appeals,
        None,
        json!({"kind": "report", "title": "井盖丢失", "content": "路口井盖丢了", "attachments": [png_id]}),
    )
    .await;
    assert_eq!(status, 201, "{appeal}");
    assert_eq!(appeal["dept"].as_str(), Some(water.as_str()), "{appeal}");
    assert_eq!(appeal["attachments"][0]["id"], png_id.as_str());
    assert_eq!(appeal["attachments"][0]["by"], "citizen");
    let id = appeal["id"].as_str().unwrap().to_string();

    // The department sees the photo listed and reads it over gRPC.
    let token = issue_token(&gw, &water).await;
    let mut dept = Dept::connect(&gw, &token).await;
    let accepted = dept.accept(&id).await.unwrap();
    assert_eq!(accepted.attachments[0].id, png_id);
    let got = dept.attachment(&id, &png_id).await.unwrap();
    assert_eq!(
        (got.content.as_slice(), got.media_type.as_str()),
        (PNG, "image/png")
    );
    // A bad document refuses the whole reply.
    let refused = dept
        .reply_with(&id, "已修复", &[("application/pdf", b"not a pdf")])
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().starts_with("attachments[0]"),
        "{refused:?}"
    );
    let replied = dept
        .reply_with(&id, "已安装新井盖，见整改报告", &[("application/pdf", PDF)])
        .await
        .unwrap();
    let pdf_id = id_of(PDF);
    assert_eq!(replied.state, "replied");
    let last = replied.timeline.last().unwrap();
    assert_eq!(
        (last.event.as_str(), last.attachments.clone()),
        ("replied", vec![pdf_id.clone()])
    );

    // The citizen sees both and downloads the PDF byte for byte.
    let (_, mine) = get(&me, &format!("{appeals}/{id}")).await;
    let listed: Vec<(&str, &str)> = mine["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["by"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (png_id.as_str(), "citizen"),
            (pdf_id.as_str(), "department")
        ]
    );
    let file = format!("{appeals}/{id}/attachments/{pdf_id}");
    let r = me.get(&file).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["content-disposition"], "attachment");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);

    // Another citizen: 404, exactly like an appeal that does not exist.
    let (s1, theirs) = get(&stranger, &file).await;
    let (s2, missing) = get(
        &stranger,
        &format!("{appeals}/S000000000000000000/attachments/{pdf_id}"),
    )
    .await;
    assert_eq!((s1, s2), (404, 404));
    assert_eq!(
        (&theirs["error"]["code"], &theirs["error"]["message"]),
        (&missing["error"]["code"], &missing["error"]["message"])
    );
    // An id the appeal does not carry: 404 too.
    let (s, _) = get(&me, &format!("{appeals}/{id}/attachments/{unknown}")).await;
    assert_eq!(s, 404);

    // An operator downloads it through the admin API.
    let r = onestop_tests::client()
        .get(format!(
            "http://{}/admin/v1/appeals/{id}/attachments/{pdf_id}",
            gw.admin
        ))
        .bearer_auth(&gw.operator_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-disposition"], "attachment");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);
}
