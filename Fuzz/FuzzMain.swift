// libFuzzer's entry point for the targets in Tests/GroupCacheWireTests/Fuzzing/WireFuzzing.swift. tools/fuzz
// builds it with -D FUZZ_FRAME_PARSER, -D FUZZ_DECODERS or -D FUZZ_GET_REPLY; a broken invariant stops the run as a crash.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    #if FUZZ_FRAME_PARSER
    let problems = WireFuzzing.frameParser(bytes)
    #elseif FUZZ_GET_REPLY
    let problems = WireFuzzing.getReply(bytes)
    #else
    let problems = WireFuzzing.decoders(bytes)
    #endif
    if !problems.isEmpty { fatalError("broken invariants: \(problems.joined(separator: "; "))") }
    return 0
}
