//! Phone numbers: as a guest types them, as the store keeps them (E.164),
//! and as logs and pages show them (masked).

/// A typed phone number in E.164 if it is a mainland mobile (with or without
/// its 86) or a number of one of `countries` after `+` or `00`.
pub fn parse_phone(typed: &str, countries: &[String]) -> Option<String> {
    let cleaned: String = typed.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '\u{3000}')).collect();
    let (international, digits) = match cleaned.strip_prefix('+') {
        Some(rest) => (true, rest.to_string()),
        None => match cleaned.strip_prefix("00") {
            Some(rest) => (true, rest.to_string()),
            None => (false, cleaned),
        },
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mainland =
        |local: &str| local.len() == 11 && local.starts_with('1') && (b'3'..=b'9').contains(&local.as_bytes()[1]);
    let china_ok = countries.iter().any(|c| c == "86");
    if !international {
        if mainland(&digits) && china_ok {
            return Some(format!("+86{digits}"));
        }
        if let Some(local) = digits.strip_prefix("86").filter(|l| mainland(l)) {
            return china_ok.then(|| format!("+86{local}"));
        }
        return None;
    }
    if !(8..=15).contains(&digits.len()) {
        return None;
    }
    let country = countries.iter().find(|c| digits.starts_with(c.as_str()))?;
    if country == "86" && !mainland(&digits[2..]) {
        return None;
    }
    Some(format!("+{digits}"))
}

/// A phone number as the store keeps it (E.164): a mainland number with or
/// without its 86, or any number with its country code after `+` or `00`.
pub fn member_phone(typed: &str) -> Option<String> {
    parse_phone(typed, &["86".to_string()]).or_else(|| {
        let cleaned: String = typed.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')')).collect();
        let digits = cleaned.strip_prefix('+').or_else(|| cleaned.strip_prefix("00"))?;
        ((8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'))
            .then(|| format!("+{digits}"))
    })
}

/// A phone number as logs show it: `138****1234`.
pub fn mask_phone(phone: &str) -> String {
    if let Some(local) = phone.strip_prefix("+86").filter(|l| l.len() == 11) {
        return format!("{}****{}", &local[..3], &local[7..]);
    }
    let n = phone.len();
    if n > 6 && phone.is_ascii() {
        format!("{}****{}", &phone[..n.min(4)], &phone[n - 4..])
    } else {
        "****".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_read_as_guests_type_them() {
        let cn = vec!["86".to_string()];
        assert_eq!(parse_phone("138 0013 8000", &cn).as_deref(), Some("+8613800138000"));
        assert_eq!(parse_phone("+86 138-0013-8000", &cn).as_deref(), Some("+8613800138000"));
        assert_eq!(parse_phone("008613800138000", &cn).as_deref(), Some("+8613800138000"));
        assert_eq!(parse_phone("8613800138000", &cn).as_deref(), Some("+8613800138000"));
        assert_eq!(parse_phone("12800138000", &cn), None, "12x is no mobile prefix");
        assert_eq!(parse_phone("1380013800", &cn), None, "10 digits");
        assert_eq!(parse_phone("+85291234567", &cn), None, "Hong Kong not allowed here");
        let more = vec!["86".to_string(), "852".to_string()];
        assert_eq!(parse_phone("+852 9123 4567", &more).as_deref(), Some("+85291234567"));
        assert_eq!(parse_phone("+1 555 0100", &more), None);
        assert_eq!(parse_phone("<script>", &more), None);
        assert_eq!(mask_phone("+8613812341234"), "138****1234");
        assert_eq!(mask_phone("+85291234567"), "+852****4567");
    }
}
