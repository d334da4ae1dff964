//! How much the next read from a desktop or from guacd may bring, for both relays.

/// Idle relays ask for little; a read that fills its room doubles the next one's, up to
/// [`ReadRoom::MAX`], which is also the largest frame a read becomes. 64 KiB measured
/// faster than 32 KiB and 256 KiB (docs/benchmarks.md).
#[derive(Debug, Clone, Copy)]
pub struct ReadRoom(usize);

impl ReadRoom {
    /// The first read's room.
    pub const MIN: usize = 4 * 1024;
    /// The largest room.
    pub const MAX: usize = 64 * 1024;

    /// Room for a relay that has not read yet.
    pub fn new() -> Self {
        ReadRoom(Self::MIN)
    }

    /// How many bytes the next read may bring.
    pub fn get(self) -> usize {
        self.0
    }

    /// After a read of `n` bytes: a full one doubles the room.
    pub fn after_read(&mut self, n: usize) {
        if n == self.0 {
            self.0 = (self.0 * 2).min(Self::MAX);
        }
    }
}

impl Default for ReadRoom {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::ReadRoom;

    #[test]
    fn a_full_read_doubles_the_room_up_to_the_maximum() {
        let mut room = ReadRoom::new();
        room.after_read(100);
        assert_eq!(room.get(), ReadRoom::MIN, "a partial read keeps the room");
        for _ in 0..10 {
            room.after_read(room.get());
        }
        assert_eq!(room.get(), ReadRoom::MAX);
    }
}
