//! The 100 topic filters of the multi-handler consumers (flask-mqtt, ruststream, and, via
//! `BENCH_FILTERS`, Flask-MQTT and FastStream): exact, `+` and `#` filters, of which 10
//! match every message the publisher sends (7 match all ten topics, 3 one topic each) and
//! 63 never match. Shared as a table so every consumer declares the same handlers.

/// Calls `$callback!` with the table: `index name "filter";` per handler. The index is
/// the handler's slot in the counters and its position in [`FILTERS`].
macro_rules! with_filters {
    ($callback:ident) => {
        $callback! {
            /// Match every message (7).
            0 h00 "#";
            1 h01 "bench/#";
            2 h02 "bench/+/value";
            3 h03 "+/+/value";
            4 h04 "+/+/+";
            5 h05 "bench/+/#";
            6 h06 "+/#";
            /// Match the messages of one topic: 3 per topic, 10 topics.
            7 h07 "bench/0/value";
            8 h08 "bench/0/#";
            9 h09 "+/0/value";
            10 h10 "bench/1/value";
            11 h11 "bench/1/#";
            12 h12 "+/1/value";
            13 h13 "bench/2/value";
            14 h14 "bench/2/#";
            15 h15 "+/2/value";
            16 h16 "bench/3/value";
            17 h17 "bench/3/#";
            18 h18 "+/3/value";
            19 h19 "bench/4/value";
            20 h20 "bench/4/#";
            21 h21 "+/4/value";
            22 h22 "bench/5/value";
            23 h23 "bench/5/#";
            24 h24 "+/5/value";
            25 h25 "bench/6/value";
            26 h26 "bench/6/#";
            27 h27 "+/6/value";
            28 h28 "bench/7/value";
            29 h29 "bench/7/#";
            30 h30 "+/7/value";
            31 h31 "bench/8/value";
            32 h32 "bench/8/#";
            33 h33 "+/8/value";
            34 h34 "bench/9/value";
            35 h35 "bench/9/#";
            36 h36 "+/9/value";
            /// Match nothing the publisher sends (63).
            37 h37 "bench/10/value";
            38 h38 "bench/11/value";
            39 h39 "bench/12/value";
            40 h40 "bench/13/value";
            41 h41 "bench/14/value";
            42 h42 "bench/15/value";
            43 h43 "bench/16/value";
            44 h44 "bench/17/value";
            45 h45 "bench/18/value";
            46 h46 "bench/19/value";
            47 h47 "bench/20/value";
            48 h48 "bench/21/value";
            49 h49 "bench/22/value";
            50 h50 "bench/23/value";
            51 h51 "bench/24/value";
            52 h52 "bench/25/value";
            53 h53 "bench/26/value";
            54 h54 "bench/27/value";
            55 h55 "bench/28/value";
            56 h56 "bench/29/value";
            57 h57 "bench/30/value";
            58 h58 "bench/31/value";
            59 h59 "bench/32/value";
            60 h60 "bench/33/value";
            61 h61 "bench/34/value";
            62 h62 "bench/35/value";
            63 h63 "bench/36/value";
            64 h64 "bench/37/value";
            65 h65 "bench/38/value";
            66 h66 "bench/39/value";
            67 h67 "bench/0/other";
            68 h68 "bench/1/other";
            69 h69 "bench/2/other";
            70 h70 "bench/3/other";
            71 h71 "bench/4/other";
            72 h72 "bench/5/other";
            73 h73 "bench/6/other";
            74 h74 "bench/7/other";
            75 h75 "bench/8/other";
            76 h76 "bench/9/other";
            77 h77 "other/0/value";
            78 h78 "other/1/value";
            79 h79 "other/2/value";
            80 h80 "other/3/value";
            81 h81 "other/4/value";
            82 h82 "other/5/value";
            83 h83 "other/6/value";
            84 h84 "other/7/value";
            85 h85 "other/8/value";
            86 h86 "other/9/value";
            87 h87 "other/10/value";
            88 h88 "other/11/value";
            89 h89 "other/12/value";
            90 h90 "bench/+/other";
            91 h91 "other/#";
            92 h92 "+/+/other";
            93 h93 "bench/+/+/+";
            94 h94 "+/+";
            95 h95 "+";
            96 h96 "bench";
            97 h97 "bench/+";
            98 h98 "other/+/+";
            99 h99 "+/other/#";
        }
    };
}
pub(crate) use with_filters;

macro_rules! filter_list {
    ($($(#[$doc:meta])* $index:literal $name:ident $filter:literal;)*) => {
        /// The filter of every handler, by index; `#` is first.
        pub(crate) const FILTERS: &[&str] = &[$($filter),*];
    };
}
with_filters!(filter_list);
