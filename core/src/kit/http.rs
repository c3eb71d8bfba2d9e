//! The HTTPS client of the appliance's outbound calls.

/// An HTTPS client for the providers the appliance calls (SMS gateways,
/// QQ/Weibo): rustls with ring, the one crypto provider of the process, and
/// the system's CA store.
pub fn http_client(timeout: std::time::Duration) -> reqwest::Client {
    // Already installed by the daemon; a test or tool gets it here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(timeout).build().expect("an HTTP client builds")
}
