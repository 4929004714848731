import Testing
@testable import RivuletConformance

@Test func rivuletconformance_builds() {}
