//! CSV for spreadsheets.

/// One CSV field for a spreadsheet: quoted, quotes doubled, and a leading
/// `=`, `+`, `-` or `@` defused (it would be a formula).
pub fn csv_field(text: &str) -> String {
    let text = text.replace('"', "\"\"");
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text };
    format!("\"{text}\"")
}
