//! sea-orm entities: one module per table of seed 000 (`Tablenames`).

pub mod daas_object;
