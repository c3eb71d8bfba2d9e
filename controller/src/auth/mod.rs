//! Login methods. Each file is one method; each ends in the same place, a
//! call to `sessions::Sessions::login` with the method's name. The methods
//! still to come (SMS, WeChat, vouchers, ...) follow the countdown's shape.

pub mod countdown;

/// The name a method's sessions are stored under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Brand page with a countdown, then one click.
    Countdown,
}

impl Method {
    /// As stored and logged.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Countdown => "countdown",
        }
    }
}
