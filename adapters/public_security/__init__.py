"""Wire files of 公安 (public security, household registration): service.wsdl + service.xsd."""
