//! The AC controller of the restaurant's thin APs. So far: the channel and
//! power planner. Adoption, config push and firmware come next (see the AP issue).

pub mod plan;
