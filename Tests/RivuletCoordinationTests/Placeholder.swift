import Testing
@testable import RivuletCoordination

@Test func rivuletcoordination_builds() {}
