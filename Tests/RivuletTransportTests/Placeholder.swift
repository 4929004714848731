import Testing
@testable import RivuletTransport

@Test func rivulettransport_builds() {}
