// "‹ 2/3 ›": which version of a message is shown, and buttons for the previous and next one.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

RowLayout {
    id: switcher
    property int current: 1
    property int total: 1
    signal step(int delta)
    spacing: 0

    SmallButton {
        objectName: "previousVersion"
        text: "‹"
        accessibleName: qsTr("Previous version")
        enabled: switcher.enabled && switcher.current > 1
        onClicked: switcher.step(-1)
    }
    Label {
        objectName: "versionLabel"
        text: qsTr("%1/%2").arg(switcher.current).arg(switcher.total)
        font.pointSize: Qt.application.font.pointSize * 0.85
        Accessible.name: qsTr("Version %1 of %2").arg(switcher.current).arg(switcher.total)
    }
    SmallButton {
        text: "›"
        accessibleName: qsTr("Next version")
        enabled: switcher.enabled && switcher.current < switcher.total
        onClicked: switcher.step(1)
    }
}
