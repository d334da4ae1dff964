//! Shared, compile-time-linked types of daas (the seed's `src.app.daas.common`): the
//! configuration files of a site and their sections, the domain model, and the backend
//! protocols that carry it. Linked by the host (which validates
//! a site before anything starts) and by plugins (which read their own file as typed
//! values); nothing here crosses the dylib boundary except as JSON.

pub mod bench;
pub mod config;
pub mod model;
pub mod password;
pub mod protocols;
pub mod rfb;
pub mod token;
