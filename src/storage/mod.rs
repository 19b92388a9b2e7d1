//! Partition logs on disk: `LogSegment`, `OffsetIndex`, `TimeIndex`, `Log`, and the `Disk`
//! abstraction that lets the same code run on the real file system or a simulated disk.
