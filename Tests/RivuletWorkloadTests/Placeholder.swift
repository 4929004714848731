import Testing
@testable import RivuletWorkload

@Test func rivuletworkload_builds() {}
