import Testing
@testable import RivuletClient

@Test func rivuletclient_builds() {}
