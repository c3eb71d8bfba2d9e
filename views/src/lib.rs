//! The pages both web faces of the product share, rendered from values:
//!
//! - the portal as a diner's phone shows it: its strings ([`i18n`]), the
//!   marketer's blocks ([`blocks`]) and the login page ([`login`]), which
//!   the appliance's portal serves to guests and both consoles frame as the
//!   marketer's phone preview;
//! - the marketer's block editor ([`editor`]): one form per block, the same
//!   at a site and at headquarters, whose posts both turn into a
//!   `guestwifi_core::marketing::Edit`.
//!
//! No web framework and no store here: the controller and headquarters
//! serve what these render.

pub mod blocks;
pub mod editor;
pub mod i18n;
pub mod login;

/// The portal's stylesheet (the portal's `/static/portal.css` and each preview's).
pub const PORTAL_CSS: &str = include_str!("../../portal-templates/static/portal.css");
