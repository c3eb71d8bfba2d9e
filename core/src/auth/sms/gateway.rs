//! Where SMS codes go out: one trait, four gateways. Aliyun SMS and Tencent
//! Cloud SMS sign their requests as their documentation says (checked
//! against the examples it publishes), a webhook serves any other provider,
//! and the log gateway writes to a file in the data dir for the lab.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// Why a message did not go out. Never the guest's fault: it does not count
/// against their limits.
#[derive(Debug, thiserror::Error)]
#[error("SMS gateway {gateway}: {message}")]
pub struct GatewayError {
    /// Which gateway.
    pub gateway: &'static str,
    /// What happened (never the code).
    pub message: String,
}

/// A future a gateway returns.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<(), GatewayError>> + Send + 'a>>;

/// Sends one code to one phone.
pub trait Gateway: Send + Sync {
    /// Sends `code` to `phone` (E.164); `text` is the whole message for
    /// gateways that take free text.
    fn send<'a>(&'a self, phone: &'a str, code: &'a str, text: &'a str) -> Sending<'a>;
}

const TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> reqwest::Client {
    crate::kit::http::http_client(TIMEOUT)
}

fn error(gateway: &'static str, message: impl std::fmt::Display) -> GatewayError {
    GatewayError { gateway, message: message.to_string() }
}

/// An enrolled site's gateway (`auth.sms.gateway = "hq"`): headquarters
/// sends the code with the chain's gateway and keys, so no appliance holds
/// them, and keeps the chain's budget as well as the site's.
pub struct HqGateway(pub crate::hq::client::Client);

impl Gateway for HqGateway {
    fn send<'a>(&'a self, phone: &'a str, code: &'a str, text: &'a str) -> Sending<'a> {
        Box::pin(async move { self.0.sms(phone, code, text).await.map_err(|e| error("hq", e)) })
    }
}

/// `auth.sms.gateway = "hq"` on a site not (yet) enrolled: every send
/// fails, saying so, and the rest of the appliance runs.
pub struct NotEnrolled;

impl Gateway for NotEnrolled {
    fn send<'a>(&'a self, _phone: &'a str, _code: &'a str, _text: &'a str) -> Sending<'a> {
        Box::pin(async { Err(error("hq", "this site is not enrolled with headquarters (controller hq join)")) })
    }
}

/// The lab's gateway: appends each message to a file (mode 0600) in the data dir.
pub struct LogGateway {
    /// The file.
    pub path: PathBuf,
}

impl Gateway for LogGateway {
    fn send<'a>(&'a self, phone: &'a str, _code: &'a str, text: &'a str) -> Sending<'a> {
        Box::pin(async move {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(|e| error("log", e))?;
            writeln!(file, "{phone}\t{text}").map_err(|e| error("log", e))
        })
    }
}

/// Any provider with an HTTP API: URL, method, headers and a body template
/// in the config; `{phone}`, `{code}` and `{text}` are filled in.
pub struct WebhookGateway {
    /// Where.
    pub url: String,
    /// `POST` or `GET`.
    pub method: reqwest::Method,
    /// Headers sent as they are.
    pub headers: Vec<(String, String)>,
    /// An `Authorization` value, read from a 0600 file.
    pub authorization: Option<String>,
    /// The body template.
    pub body: String,
    client: reqwest::Client,
}

impl WebhookGateway {
    /// A webhook gateway.
    pub fn new(
        url: String,
        method: reqwest::Method,
        headers: Vec<(String, String)>,
        authorization: Option<String>,
        body: String,
    ) -> Self {
        WebhookGateway { url, method, headers, authorization, body, client: client() }
    }
}

/// Fills a template: the values are digits, `+` and the configured text,
/// escaped for JSON when the template is JSON.
fn fill(template: &str, phone: &str, code: &str, text: &str) -> String {
    let json = template.trim_start().starts_with('{');
    let text = if json {
        let quoted = serde_json::to_string(text).unwrap_or_default();
        quoted[1..quoted.len() - 1].to_string()
    } else {
        text.to_string()
    };
    template.replace("{phone}", phone).replace("{code}", code).replace("{text}", &text)
}

impl Gateway for WebhookGateway {
    fn send<'a>(&'a self, phone: &'a str, code: &'a str, text: &'a str) -> Sending<'a> {
        Box::pin(async move {
            let body = fill(&self.body, phone, code, text);
            let url = fill(&self.url, &urlencode(phone), code, &urlencode(text));
            let mut request = self.client.request(self.method.clone(), url);
            for (name, value) in &self.headers {
                request = request.header(name, value);
            }
            if let Some(auth) = &self.authorization {
                request = request.header(reqwest::header::AUTHORIZATION, auth);
            }
            if self.method != reqwest::Method::GET {
                request = request.body(body);
            }
            let response = request.send().await.map_err(|e| error("webhook", without_url(e)))?;
            if !response.status().is_success() {
                return Err(error("webhook", format!("answered {}", response.status())));
            }
            Ok(())
        })
    }
}

/// A reqwest error without the URL (it may carry the code in its query).
fn without_url(err: reqwest::Error) -> String {
    err.without_url().to_string()
}

/// Aliyun (阿里云) SMS: `SendSms` over the RPC API, signature version 1.0
/// (HMAC-SHA1 of the sorted, percent-encoded query).
pub struct AliyunGateway {
    /// `https://dysmsapi.aliyuncs.com/`.
    pub endpoint: String,
    /// The AccessKey id.
    pub access_key_id: String,
    /// The AccessKey secret.
    pub access_key_secret: String,
    /// The approved signature (签名), e.g. the restaurant's name.
    pub sign_name: String,
    /// The approved template with a `${code}` parameter.
    pub template_code: String,
    client: reqwest::Client,
}

impl AliyunGateway {
    /// An Aliyun gateway.
    pub fn new(
        endpoint: String,
        access_key_id: String,
        access_key_secret: String,
        sign_name: String,
        template_code: String,
    ) -> Self {
        AliyunGateway { endpoint, access_key_id, access_key_secret, sign_name, template_code, client: client() }
    }
}

/// Percent-encoding as Aliyun's POP signature wants it (RFC 3986
/// unreserved characters kept; space as %20, `*` and `~` as the RFC says).
pub fn pop_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn urlencode(text: &str) -> String {
    pop_encode(text)
}

/// The POP signature (base64 of HMAC-SHA1) of `params` for a GET.
pub fn aliyun_signature(secret: &str, params: &[(&str, &str)]) -> String {
    use base64::Engine;
    let mut sorted: Vec<(String, String)> = params.iter().map(|(k, v)| (pop_encode(k), pop_encode(v))).collect();
    sorted.sort();
    let query: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let to_sign = format!("GET&{}&{}", pop_encode("/"), pop_encode(&query.join("&")));
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes()).expect("any key length");
    mac.update(to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Now as ISO 8601 UTC (`2017-07-12T02:42:19Z`).
fn iso_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    let (date, rest) = (crate::kit::time::civil_date(secs, 0), secs.rem_euclid(86_400));
    format!("{date}T{:02}:{:02}:{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

impl Gateway for AliyunGateway {
    fn send<'a>(&'a self, phone: &'a str, code: &'a str, _text: &'a str) -> Sending<'a> {
        Box::pin(async move {
            // Aliyun takes mainland numbers without +86, others with the country code.
            let number =
                phone.strip_prefix("+86").map_or_else(|| phone.trim_start_matches('+').to_string(), str::to_string);
            let nonce = crate::kit::secrets::random_code(16);
            let timestamp = iso_now();
            let template_param = serde_json::json!({ "code": code }).to_string();
            let params = [
                ("AccessKeyId", self.access_key_id.as_str()),
                ("Action", "SendSms"),
                ("Format", "JSON"),
                ("PhoneNumbers", number.as_str()),
                ("RegionId", "cn-hangzhou"),
                ("SignName", self.sign_name.as_str()),
                ("SignatureMethod", "HMAC-SHA1"),
                ("SignatureNonce", nonce.as_str()),
                ("SignatureVersion", "1.0"),
                ("TemplateCode", self.template_code.as_str()),
                ("TemplateParam", template_param.as_str()),
                ("Timestamp", timestamp.as_str()),
                ("Version", "2017-05-25"),
            ];
            let signature = aliyun_signature(&self.access_key_secret, &params);
            let mut query: Vec<(&str, &str)> = params.to_vec();
            query.push(("Signature", &signature));
            let response = self
                .client
                .get(&self.endpoint)
                .query(&query)
                .send()
                .await
                .map_err(|e| error("aliyun", without_url(e)))?;
            let status = response.status();
            let body: serde_json::Value = response.json().await.map_err(|e| error("aliyun", without_url(e)))?;
            match body.get("Code").and_then(|c| c.as_str()) {
                Some("OK") => Ok(()),
                other => Err(error("aliyun", format!("answered {status} with code {other:?}"))),
            }
        })
    }
}

/// Tencent Cloud (腾讯云) SMS: `SendSms` (2021-01-11) with signature v3,
/// TC3-HMAC-SHA256.
pub struct TencentGateway {
    /// `https://sms.tencentcloudapi.com/`.
    pub endpoint: String,
    /// The region, e.g. `ap-guangzhou`.
    pub region: String,
    /// The SecretId.
    pub secret_id: String,
    /// The SecretKey.
    pub secret_key: String,
    /// The SMS application's SdkAppId.
    pub sdk_app_id: String,
    /// The approved signature.
    pub sign_name: String,
    /// The approved template, one parameter: the code.
    pub template_id: String,
    client: reqwest::Client,
}

impl TencentGateway {
    /// A Tencent gateway.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        endpoint: String,
        region: String,
        secret_id: String,
        secret_key: String,
        sdk_app_id: String,
        sign_name: String,
        template_id: String,
    ) -> Self {
        TencentGateway { endpoint, region, secret_id, secret_key, sdk_app_id, sign_name, template_id, client: client() }
    }
}

fn hmac256(key: &[u8], message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn sha256_hex(text: &str) -> String {
    ap_protocol::hex::encode(&Sha256::digest(text.as_bytes()))
}

/// The TC3-HMAC-SHA256 signature of a POST with `payload` to `host`, at
/// `timestamp`, signing the content-type and host headers.
pub fn tc3_signature(
    secret_key: &str,
    service: &str,
    host: &str,
    content_type: &str,
    payload: &str,
    timestamp: i64,
) -> String {
    let canonical =
        format!("POST\n/\n\ncontent-type:{content_type}\nhost:{host}\n\ncontent-type;host\n{}", sha256_hex(payload));
    let date = crate::kit::time::civil_date(timestamp, 0);
    let scope = format!("{date}/{service}/tc3_request");
    let to_sign = format!("TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{}", sha256_hex(&canonical));
    let secret_date = hmac256(format!("TC3{secret_key}").as_bytes(), &date);
    let secret_service = hmac256(&secret_date, service);
    let secret_signing = hmac256(&secret_service, "tc3_request");
    ap_protocol::hex::encode(&hmac256(&secret_signing, &to_sign))
}

impl Gateway for TencentGateway {
    fn send<'a>(&'a self, phone: &'a str, code: &'a str, _text: &'a str) -> Sending<'a> {
        Box::pin(async move {
            let host = reqwest::Url::parse(&self.endpoint)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .ok_or_else(|| error("tencent", "the endpoint is not a URL"))?;
            let content_type = "application/json; charset=utf-8";
            let payload = serde_json::json!({
                "PhoneNumberSet": [phone],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": self.template_id,
                "TemplateParamSet": [code],
            })
            .to_string();
            let timestamp =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
            let signature = tc3_signature(&self.secret_key, "sms", &host, content_type, &payload, timestamp);
            let date = crate::kit::time::civil_date(timestamp, 0);
            let authorization = format!(
                "TC3-HMAC-SHA256 Credential={}/{date}/sms/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
                self.secret_id
            );
            let response = self
                .client
                .post(&self.endpoint)
                .header(reqwest::header::AUTHORIZATION, authorization)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .header("X-TC-Action", "SendSms")
                .header("X-TC-Version", "2021-01-11")
                .header("X-TC-Timestamp", timestamp.to_string())
                .header("X-TC-Region", &self.region)
                .body(payload)
                .send()
                .await
                .map_err(|e| error("tencent", without_url(e)))?;
            let status = response.status();
            let body: serde_json::Value = response.json().await.map_err(|e| error("tencent", without_url(e)))?;
            let code = body.pointer("/Response/SendStatusSet/0/Code").and_then(|c| c.as_str());
            match code {
                Some("Ok") => Ok(()),
                other => {
                    let err = body.pointer("/Response/Error/Code").and_then(|c| c.as_str());
                    Err(error("tencent", format!("answered {status}: {:?}", other.or(err))))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Aliyun's "签名机制" page for SendSms.
    #[test]
    fn aliyun_signature_matches_the_documented_example() {
        let params = [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", "{\"customer\":\"test\"}"),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ];
        assert_eq!(aliyun_signature("testSecret", &params), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
    }

    /// The example of Tencent Cloud's "签名方法 v3" page (DescribeInstances).
    #[test]
    fn tencent_signature_matches_the_documented_example() {
        let payload = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        assert_eq!(sha256_hex(payload), "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
        let signature = tc3_signature(
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            "cvm",
            "cvm.tencentcloudapi.com",
            "application/json; charset=utf-8",
            payload,
            1_551_113_065,
        );
        assert_eq!(signature, "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
    }

    #[test]
    fn templates_are_filled_and_json_stays_json() {
        let body = fill(r#"{"to":"{phone}","msg":"{text}"}"#, "+8613800138000", "123456", "码 \"123456\"");
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["msg"], "码 \"123456\"");
        assert_eq!(fill("to={phone}&c={code}", "+1", "9", "x"), "to=+1&c=9");
    }
}
